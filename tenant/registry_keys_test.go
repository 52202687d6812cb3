package tenant

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// keysModel is what a registry should say of every key a run made: the
// tenant's current key opens its events (under its ID), or reads as
// unavailable if no slot held it; every other key it ever had
// (replaced, forgotten, or named by a forget record that could not be
// checked) reads as shredded, and a key no record named as damaged.
type keysModel struct {
	reg         *Registry
	tags        []Tag
	current     map[Tag]*Key   // the tenant's current key, if any
	unavailable map[KeyID]bool // current keys whose slot was never stored
	old         []*Key         // keys some record named that no tenant has now
	events      map[KeyID][]byte
	gen         Generation
	counter     uint64
}

// sealUnder seals an event of k and remembers it.
func (m *keysModel) sealUnder(k *Key) {
	env, err := Seal(nil, k, m.gen, m.counter, fmt.Appendf(nil, "event of %s", k.ID))
	if err != nil {
		panic(err)
	}
	m.counter++
	m.events[k.ID] = env
}

// TestRegistryKeys runs random histories of key records, forget records
// (checked and not) and snapshot round trips, and checks after each step
// how the registry opens an event of every key the history made.
func TestRegistryKeys(t *testing.T) {
	ctx := t.Context()
	rapid.Check(t, func(rt *rapid.T) {
		s := newSlotStore(nil)
		m := &keysModel{reg: NewRegistry(s.load), current: map[Tag]*Key{}, unavailable: map[KeyID]bool{},
			events: map[KeyID][]byte{}, gen: Generation{Epoch: 1, LSN: 1}}
		for i := range 3 {
			m.tags = append(m.tags, testTag(fmt.Sprintf("tenant-%d", i)))
		}
		stranger := NewKey(testTag("never named"))
		m.sealUnder(stranger)
		tenantOf := func(rt *rapid.T) Tag { return rapid.SampledFrom(m.tags).Draw(rt, "tenant") }

		rt.Repeat(map[string]func(*rapid.T){
			"create": func(rt *rapid.T) {
				tag := tenantOf(rt)
				k := NewKey(tag)
				if rapid.IntRange(0, 3).Draw(rt, "slot lost") == 0 {
					m.unavailable[k.ID] = true
				} else {
					s.put(t, k, "")
				}
				rec, err := KeyRecord{Tag: tag, Key: k.ID, Created: testCreated, ID: idOf(k)}.Encode(k)
				if err != nil {
					rt.Fatal(err)
				}
				if _, err := m.reg.ApplyKey(ctx, rec); err != nil {
					rt.Fatalf("ApplyKey: %v", err)
				}
				if prev := m.current[tag]; prev != nil {
					m.old = append(m.old, prev)
				}
				m.current[tag] = k
				m.sealUnder(k)
			},
			"forget": func(rt *rapid.T) {
				tag := tenantOf(rt)
				k := m.current[tag]
				if k == nil {
					rt.Skip("no live key")
				}
				rec, err := ForgetRecord{Tag: tag, Key: k.ID, Time: testCreated}.Encode(k)
				if err != nil {
					rt.Fatal(err)
				}
				if _, _, verified, err := m.reg.ApplyForget(rec); err != nil || verified == m.unavailable[k.ID] {
					rt.Fatalf("ApplyForget of the current key (unavailable %v): verified %v, %v", m.unavailable[k.ID], verified, err)
				}
				s.remove(tag, k.ID)
				delete(m.current, tag)
				m.old = append(m.old, k)
			},
			"forget another key": func(rt *rapid.T) {
				tag := tenantOf(rt)
				k := NewKey(tag)
				m.sealUnder(k)
				rec, err := ForgetRecord{Tag: tag, Key: k.ID, Time: testCreated}.Encode(k)
				if err != nil {
					rt.Fatal(err)
				}
				if _, _, verified, err := m.reg.ApplyForget(rec); err != nil || verified {
					rt.Fatalf("ApplyForget of a key never held: verified %v, %v", verified, err)
				}
				m.old = append(m.old, k) // the tenant's live key, if any, stays

			},
			"snapshot": func(rt *rapid.T) {
				var b bytes.Buffer
				if _, err := m.reg.WriteTo(&b); err != nil {
					rt.Fatal(err)
				}
				g := NewRegistry(s.load)
				if err := g.ReadFrom(ctx, bytes.NewReader(b.Bytes())); err != nil {
					rt.Fatalf("ReadFrom of the registry's own snapshot: %v", err)
				}
				m.reg = g
			},
			"": func(rt *rapid.T) {
				for _, k := range append(m.old, stranger) {
					_, _, err := m.reg.Open(nil, m.events[k.ID])
					want := ErrShredded
					if k == stranger {
						want = ErrUnknownKey
					}
					if !errors.Is(err, want) {
						rt.Fatalf("an event of key %s (tenant %s): %v, want %v", k.ID, k.Tag, err, want)
					}
					if !m.reg.KnownKey(k.ID) && k != stranger {
						rt.Fatalf("key %s, which a record named, is not known", k.ID)
					}
				}
				for tag, k := range m.current {
					ten, out, err := m.reg.Open(nil, m.events[k.ID])
					if m.unavailable[k.ID] {
						var ue *KeyUnavailableError
						if !errors.As(err, &ue) || ue.Key != k.ID {
							rt.Fatalf("an event of tenant %s's unavailable key %s: %v", tag, k.ID, err)
						}
						continue
					}
					if err != nil || ten.Tag != tag || ten.ID != idOf(k) || string(out) != fmt.Sprintf("event of %s", k.ID) {
						rt.Fatalf("an event of tenant %s's live key %s: %v, tenant %s %q, %q", tag, k.ID, err, ten.Tag, ten.ID, out)
					}
				}
			},
		})
	})
}

// idOf is the tenant ID the model's key records give k's tenant: one per
// key, so that a stale ID shows.
func idOf(k *Key) string { return "id-" + k.ID.String() }
