package controller

import (
	"errors"
	"testing"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/metadata"
)

func TestDecideACLs(t *testing.T) {
	read := auth.Binding{ResourceType: auth.ResourceTopic, ResourceName: "t", PatternType: auth.PatternLiteral,
		Principal: "User:a", Host: "*", Operation: auth.OpRead, Permission: auth.PermissionAllow}
	write := read
	write.Operation = auth.OpWrite
	var n byte
	newID := func() [16]byte { n++; return [16]byte{n} }

	rec, err := decideCreateACLs(&metadata.Image{}, []auth.Binding{read, read, write}, newID)
	if err != nil || len(rec.Create) != 2 {
		t.Fatalf("got %+v, %v; want two ACLs created, the repeated one once", rec, err)
	}
	img, err := (&metadata.Image{}).Apply(1, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decideCreateACLs(img, []auth.Binding{write}, newID); !errors.Is(err, errNoChange) {
		t.Fatalf("got %v, want errNoChange for a stored binding", err)
	}

	any := auth.Filter{ResourceType: auth.ResourceAny, PatternType: auth.PatternAny, Operation: auth.OpAny, Permission: auth.PermissionAny}
	writes := any
	writes.Operation = auth.OpWrite
	del, matched := decideDeleteACLs(img, []auth.Filter{writes, any})
	if len(del.Delete) != 2 || len(matched[0]) != 1 || len(matched[1]) != 2 {
		t.Fatalf("got %+v and matches %v", del, matched)
	}
	if _, err := img.Apply(2, del); err != nil {
		t.Fatalf("the deletion does not apply: %v", err)
	}
}
