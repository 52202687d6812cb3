package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
)

// PurgeReport is what PurgeObject removed and what it could not.
type PurgeReport struct {
	// OldVersions counts the old versions and delete markers removed (an
	// S3 bucket with versioning keeps them past a delete).
	OldVersions int
	// Warnings say what may still hold the object: versions that could
	// not be removed (locked, or no s3:DeleteObjectVersion), a store
	// whose versioning cannot be asked.
	Warnings []string
}

// PurgeObject deletes the sealed object name and, on S3, every version
// of it the bucket kept, so that nothing of it can be read again (a
// destroyed tenant key's slot). Other stores keep no versions: there it
// is DeleteObject.
func (r *Repo) PurgeObject(ctx context.Context, name string) (PurgeReport, error) {
	if err := r.DeleteObject(ctx, name); err != nil {
		return PurgeReport{}, err
	}
	return purgeVersions(ctx, r.bucket, name), nil
}

// PurgeObjectIn is PurgeObject in a bucket that holds a copy of a
// repository (CopyTo), which it need not open: it deletes the sealed
// object name there, and on S3 every version of it.
func PurgeObjectIn(ctx context.Context, b *blob.Bucket, name string) (PurgeReport, error) {
	if err := checkSealedName(name); err != nil {
		return PurgeReport{}, err
	}
	if err := b.Delete(ctx, name); err != nil {
		if err := storageErr(name, err); !errors.Is(err, ErrMissing) {
			return PurgeReport{}, fmt.Errorf("delete %w", err)
		}
	}
	return purgeVersions(ctx, b, name), nil
}

// purgeVersions removes the old versions of name an S3 bucket kept.
func purgeVersions(ctx context.Context, b *blob.Bucket, name string) PurgeReport {
	var rep PurgeReport
	var client *s3.Client
	if !b.As(&client) {
		return rep
	}
	bucket, key, err := s3Names(ctx, b, name)
	if err != nil {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: could not ask S3 for its old versions (%v): if the bucket keeps versions, its owner must purge them", name, err))
		return rep
	}
	var marker, idMarker *string
	for {
		out, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &key, KeyMarker: marker, VersionIdMarker: idMarker})
		if err != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: could not list its old versions in S3 bucket %s (%v): its owner must purge them", name, bucket, err))
			return rep
		}
		var ids []*string
		for _, v := range out.Versions {
			if v.Key != nil && *v.Key == key {
				ids = append(ids, v.VersionId)
			}
		}
		for _, m := range out.DeleteMarkers {
			if m.Key != nil && *m.Key == key {
				ids = append(ids, m.VersionId)
			}
		}
		for _, id := range ids {
			if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &key, VersionId: id}); err != nil {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: version %s stays in S3 bucket %s: %v", name, deref(id), bucket, err))
				continue
			}
			rep.OldVersions++
		}
		if out.IsTruncated == nil || !*out.IsTruncated {
			return rep
		}
		marker, idMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// s3Names returns the S3 bucket's name and the full key of prefix in it
// (with the blob.Bucket's own key prefix, if it has one): gocloud does
// not say them, but a listing's input does.
func s3Names(ctx context.Context, b *blob.Bucket, prefix string) (bucket, key string, err error) {
	it := b.List(&blob.ListOptions{Prefix: prefix, BeforeList: func(as func(any) bool) error {
		var in *s3.ListObjectsV2Input
		var legacy *s3.ListObjectsInput
		switch {
		case as(&in) && in.Bucket != nil:
			bucket, key = *in.Bucket, deref(in.Prefix)
		case as(&legacy) && legacy.Bucket != nil:
			bucket, key = *legacy.Bucket, deref(legacy.Prefix)
		}
		return nil
	}})
	if _, err := it.Next(ctx); err != nil && err != io.EOF && bucket == "" {
		return "", "", err
	}
	if bucket == "" {
		return "", "", errors.New("the listing named no S3 bucket")
	}
	return bucket, key, nil
}
