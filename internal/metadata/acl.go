package metadata

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/stratalog/strata/internal/auth"
)

// ACL is one stored ACL binding and its id, a random UUID the controller
// chose (Kafka's AccessControlEntryRecord).
type ACL struct {
	ID [16]byte
	auth.Binding
}

// SetACLs creates the ACLs of Create and removes those whose ids are in
// Delete (Kafka's AccessControlEntryRecord and
// RemoveAccessControlEntryRecord), all or none: an id created twice or
// already present, an id to remove that is not present, or a binding that
// fails auth.Binding.Check rejects the record.
type SetACLs struct {
	Create []ACL
	Delete [][16]byte
}

func (SetACLs) kind() kind { return kindSetACLs }

// aclSet is the ACLs of an image by id. A new set is made whenever one
// changes, so images share it and SameACLs compares pointers.
type aclSet struct {
	byID map[[16]byte]auth.Binding
}

// ACLs returns every ACL sorted by id, in a new slice the caller owns.
func (img *Image) ACLs() []ACL {
	if img.acls == nil {
		return nil
	}
	out := make([]ACL, 0, len(img.acls.byID))
	for id, b := range img.acls.byID {
		out = append(out, ACL{ID: id, Binding: b})
	}
	slices.SortFunc(out, func(a, b ACL) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

// SameACLs reports whether img and other hold the same ACLs because no ACL
// record was applied between them; a rebuilt authorizer is needed only
// when it is false.
func (img *Image) SameACLs(other *Image) bool { return img.acls == other.acls }

func (img *Image) setACLs(r SetACLs) (*Image, error) {
	var cur map[[16]byte]auth.Binding
	if img.acls != nil {
		cur = img.acls.byID
	}
	byID := make(map[[16]byte]auth.Binding, len(cur)+len(r.Create))
	for id, b := range cur {
		byID[id] = b
	}
	for _, id := range r.Delete {
		if _, ok := byID[id]; !ok {
			return nil, fmt.Errorf("%w: removal of ACL %x, which does not exist", ErrInvalidRecord, id)
		}
		delete(byID, id)
	}
	for _, a := range r.Create {
		if err := putACL(byID, a); err != nil {
			return nil, err
		}
	}
	next := img.clone()
	next.acls = nil
	if len(byID) > 0 {
		next.acls = &aclSet{byID: byID}
	}
	return next, nil
}

// putACL adds a to byID, checking it as every stored ACL is checked.
func putACL(byID map[[16]byte]auth.Binding, a ACL) error {
	if err := a.Check(); err != nil {
		return fmt.Errorf("%w: ACL %x: %w", ErrInvalidRecord, a.ID, err)
	}
	if _, dup := byID[a.ID]; dup || a.ID == [16]byte{} {
		return fmt.Errorf("%w: ACL id %x is zero or in use", ErrInvalidRecord, a.ID)
	}
	byID[a.ID] = a.Binding
	return nil
}

func (e *encoder) acl(a ACL) {
	e.uuid(a.ID)
	e.b = append(e.b, byte(a.ResourceType), byte(a.PatternType), byte(a.Operation), byte(a.Permission))
	e.string(a.ResourceName)
	e.string(a.Principal)
	e.string(a.Host)
}

func (e *encoder) acls(as []ACL) {
	e.uvarint(uint64(len(as)))
	for _, a := range as {
		e.acl(a)
	}
}

// aclMinSize is the fewest bytes an encoded ACL takes: the id, the four
// codes and three empty strings.
const aclMinSize = 16 + 4 + 3

func (d *decoder) acls() []ACL {
	n := d.count(aclMinSize)
	if n == 0 {
		return nil
	}
	out := make([]ACL, 0, n)
	for range n {
		a := ACL{ID: d.uuid()}
		if len(d.b) < 4 {
			d.fail("ACL codes")
			return nil
		}
		a.ResourceType, a.PatternType = auth.ResourceType(d.b[0]), auth.PatternType(d.b[1])
		a.Operation, a.Permission = auth.Operation(d.b[2]), auth.Permission(d.b[3])
		d.b = d.b[4:]
		a.ResourceName, a.Principal, a.Host = d.string(), d.string(), d.string()
		out = append(out, a)
	}
	return out
}

func (d *decoder) uuids() [][16]byte {
	n := d.count(16)
	if n == 0 {
		return nil
	}
	out := make([][16]byte, n)
	for i := range out {
		out[i] = d.uuid()
	}
	return out
}

func (e *encoder) uuids(ids [][16]byte) {
	e.uvarint(uint64(len(ids)))
	for _, id := range ids {
		e.uuid(id)
	}
}
