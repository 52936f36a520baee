package metadata

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/stratalog/strata/internal/auth"
)

func TestApplySetACLs(t *testing.T) {
	img := &Image{}
	a, b := aclSample(idA, "orders", auth.PatternLiteral), aclSample(idB, "logs-", auth.PatternPrefixed)
	next, err := img.Apply(1, SetACLs{Create: []ACL{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	if got := next.ACLs(); !reflect.DeepEqual(got, []ACL{a, b}) {
		t.Fatalf("got %v, want %v", got, []ACL{a, b})
	}
	if next.SameACLs(img) {
		t.Fatal("SameACLs after a change")
	}
	bad := a
	bad.ID = idC
	bad.Principal = "nobody"
	for name, rec := range map[string]SetACLs{
		"id in use":       {Create: []ACL{a}},
		"id twice":        {Create: []ACL{aclSample(idC, "x", auth.PatternLiteral), aclSample(idC, "y", auth.PatternLiteral)}},
		"zero id":         {Create: []ACL{aclSample([16]byte{}, "x", auth.PatternLiteral)}},
		"unknown removal": {Delete: [][16]byte{idC}},
		"bad binding":     {Create: []ACL{bad}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := next.Apply(2, rec)
			if !errors.Is(err, ErrInvalidRecord) || got != next {
				t.Fatalf("got %v, want ErrInvalidRecord and the image unchanged", err)
			}
		})
	}
	// Removing and re-creating an id in one record is a replacement.
	replaced, err := next.Apply(2, SetACLs{Delete: [][16]byte{idA, idB}, Create: []ACL{aclSample(idA, "other", auth.PatternLiteral)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := replaced.ACLs(); len(got) != 1 || got[0].ResourceName != "other" {
		t.Fatalf("got %v", got)
	}
	empty, err := replaced.Apply(3, SetACLs{Delete: [][16]byte{idA}})
	if err != nil || empty.ACLs() != nil {
		t.Fatalf("got %v, %v; want no ACLs", empty.ACLs(), err)
	}
	unrelated, _ := next.Apply(4, SetClusterID{ID: "c"})
	if !unrelated.SameACLs(next) {
		t.Fatal("an unrelated record changed the ACL set")
	}
}

// TestSetACLsNeedsVersion5 checks that kind 17 under an older version byte
// is refused: no release before version 5 wrote one.
func TestSetACLsNeedsVersion5(t *testing.T) {
	b := EncodeRecord(SetACLs{Delete: [][16]byte{idA}})
	b[0] = guardVersion
	if _, err := DecodeRecord(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

// FuzzDecodeSetACLs checks that decoding ACL records never panics, that an
// accepted one re-encodes to the same bytes, and that applying it to an
// image holding ACLs either succeeds with checked bindings or leaves the
// image alone.
func FuzzDecodeSetACLs(f *testing.F) {
	for _, r := range []SetACLs{
		{Create: []ACL{aclSample(idA, "orders", auth.PatternLiteral)}},
		{Create: []ACL{aclSample(idC, "*", auth.PatternLiteral), aclSample(idB, "p", auth.PatternPrefixed)}, Delete: [][16]byte{idA}},
		{Delete: [][16]byte{idA, idB}},
		{},
	} {
		b := EncodeRecord(r)
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(bytes.Clone(b), 0))
	}
	base, err := (&Image{}).Apply(1, SetACLs{Create: []ACL{aclSample(idA, "orders", auth.PatternLiteral)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		enc := EncodeRecord(r)
		again, err := DecodeRecord(enc)
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("re-decode: %v, %#v, want %#v", err, again, r)
		}
		next, err := base.Apply(2, r)
		if err != nil {
			if next != base {
				t.Fatal("a rejected record changed the image")
			}
			return
		}
		for _, a := range next.ACLs() {
			if err := a.Check(); err != nil {
				t.Fatalf("stored an invalid ACL %+v: %v", a, err)
			}
		}
	})
}
