package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity"
)

// TestTenantEndpoints: X-Tenant keeps each tenant's keys apart, a
// tenant restores on its own as of an LSN, and DELETE /tenants/{id}
// shreds it: its keys are gone and its past restores answer 410.
func TestTenantEndpoints(t *testing.T) {
	sm := &store{}
	n, err := continuity.Open(t.Context(), continuity.Config{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}, sm)
	require.NoError(t, err)
	defer n.Close()
	srv := httptest.NewServer(handler(n, sm, nil))
	defer srv.Close()
	do := func(method, path, tenant, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if tenant != "" {
			req.Header.Set(tenantHeader, tenant)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	code, first := do("PUT", "/kv/color", "acme", "red")
	require.Equal(t, 200, code, first)
	for _, w := range [][3]string{{"globex", "blue"}, {"", "green"}, {"acme", "crimson"}} {
		code, body := do("PUT", "/kv/color", w[0], w[1])
		require.Equal(t, 200, code, body)
	}
	for tenant, want := range map[string]string{"acme": "crimson", "globex": "blue", "": "green"} {
		code, body := do("GET", "/kv/color", tenant, "")
		assert.Equal(t, 200, code, "tenant %q: %s", tenant, body)
		assert.Equal(t, want, body, "tenant %q", tenant)
	}
	code, body := do("GET", "/kv/color", "initech", "")
	assert.Equal(t, 404, code, "a tenant with no keys: %s", body)
	code, body = do("GET", "/kv/color", strings.Repeat("x", 300), "")
	assert.Equal(t, 400, code, "an ID too long: %s", body)

	var restored struct {
		Tenant string            `json:"tenant"`
		LSN    uint64            `json:"lsn"`
		KV     map[string]string `json:"kv"`
	}
	code, body = do("GET", "/tenants/acme/restore?lsn="+first, "", "")
	require.Equal(t, 200, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &restored))
	assert.Equal(t, map[string]string{"color": "red"}, restored.KV, "acme as of its first write")
	code, body = do("GET", "/tenants/acme/restore?lsn=x", "", "")
	assert.Equal(t, 400, code, body)

	code, body = do("DELETE", "/tenants/acme?reason=ticket+7", "", "")
	require.Equal(t, 200, code, body)
	var rc continuity.DeletionReceipt
	require.NoError(t, json.Unmarshal([]byte(body), &rc))
	assert.Equal(t, "acme", rc.Tenant)
	assert.Equal(t, "ticket 7", rc.Reason)
	assert.NotEmpty(t, rc.KeysDestroyed)

	code, body = do("GET", "/kv/color", "acme", "")
	assert.Equal(t, 404, code, "acme's keys after its deletion: %s", body)
	assert.Equal(t, `no key "color" in tenant "acme"'s map (none if the tenant never wrote or was deleted)`, body)
	code, body = do("GET", "/tenants/acme/restore?lsn="+first, "", "")
	assert.Equal(t, 410, code, "acme's past after its deletion: %s", body)
	code, body = do("GET", "/kv/color", "globex", "")
	assert.Equal(t, "blue", body, "globex after acme's deletion (%d)", code)
	code, body = do("DELETE", "/tenants/nobody", "", "")
	assert.Equal(t, 404, code, body)
}
