package metadata

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
)

// QuotaNameKind says how a QuotaEntity names one of its components.
type QuotaNameKind byte

// The kinds of a quota entity component. The values are part of the
// on-disk format.
const (
	QuotaAbsent  QuotaNameKind = 0 // the entity has no such component
	QuotaNamed   QuotaNameKind = 1 // one user or client id, by name
	QuotaDefault QuotaNameKind = 2 // the default: every user (client id) without its own
)

// QuotaName is one component (user or client id) of a QuotaEntity; Name is
// set only for QuotaNamed.
type QuotaName struct {
	Kind QuotaNameKind
	Name string
}

// Named returns the component naming name.
func Named(name string) QuotaName { return QuotaName{Kind: QuotaNamed, Name: name} }

// QuotaEntity is whom a set of client quotas applies to (Kafka's
// ClientQuotaEntity of the user and client-id types): a user, a client id,
// or a user's client id, each by name or as the default.
type QuotaEntity struct {
	User     QuotaName
	ClientID QuotaName
}

// SetClientQuotas sets the quotas in Set and removes those in Delete of
// one entity (Kafka's ClientQuotaRecord, which carries one key). A key may
// not appear in both; an entity left with no quota is removed.
type SetClientQuotas struct {
	Entity QuotaEntity
	Set    map[string]float64
	Delete []string
}

func (SetClientQuotas) kind() kind { return kindSetClientQuotas }

// ClientQuotas returns the client quotas by entity. The caller must not
// modify the map or its values.
func (img *Image) ClientQuotas() map[QuotaEntity]map[string]float64 { return img.clientQuotas }

// quotaLevels is Kafka's precedence of client quota entities (its
// ClientQuotaManager), most specific first, for a connection of a user and
// a client id.
func quotaLevels(user, clientID string) [8]QuotaEntity {
	u, c := Named(user), Named(clientID)
	du, dc := QuotaName{Kind: QuotaDefault}, QuotaName{Kind: QuotaDefault}
	return [8]QuotaEntity{
		{User: u, ClientID: c}, {User: u, ClientID: dc}, {User: u},
		{User: du, ClientID: c}, {User: du, ClientID: dc}, {User: du},
		{ClientID: c}, {ClientID: dc},
	}
}

// ClientQuota returns the quota key that applies to a connection of user
// and clientID, and the entity it was set on: the most specific entity, in
// Kafka's order, that sets key. ok is false when none does.
func (img *Image) ClientQuota(key, user, clientID string) (entity QuotaEntity, value float64, ok bool) {
	if len(img.clientQuotas) == 0 {
		return QuotaEntity{}, 0, false
	}
	for _, e := range quotaLevels(user, clientID) {
		if v, ok := img.clientQuotas[e][key]; ok {
			return e, v, true
		}
	}
	return QuotaEntity{}, 0, false
}

// checkQuotaEntity checks an entity's components: at least one, and a
// named one with a name.
func checkQuotaEntity(e QuotaEntity) error {
	for _, n := range []QuotaName{e.User, e.ClientID} {
		if n.Kind > QuotaDefault || (n.Kind == QuotaNamed) != (n.Name != "") {
			return fmt.Errorf("%w: quota entity component %d %q", ErrInvalidRecord, n.Kind, n.Name)
		}
	}
	if e.User.Kind == QuotaAbsent && e.ClientID.Kind == QuotaAbsent {
		return fmt.Errorf("%w: empty client quota entity", ErrInvalidRecord)
	}
	return nil
}

// checkQuotaValues rejects empty keys, values that are not finite and
// positive, and keys both set and deleted.
func checkQuotaValues(set map[string]float64, del []string) error {
	for k, v := range set {
		if k == "" || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			return fmt.Errorf("%w: client quota %q = %v", ErrInvalidRecord, k, v)
		}
	}
	for _, k := range del {
		if _, ok := set[k]; ok || k == "" {
			return fmt.Errorf("%w: client quota %q both set and deleted, or empty", ErrInvalidRecord, k)
		}
	}
	return nil
}

func (img *Image) setClientQuotas(r SetClientQuotas) (*Image, error) {
	if err := checkQuotaEntity(r.Entity); err != nil {
		return nil, err
	}
	if err := checkQuotaValues(r.Set, r.Delete); err != nil {
		return nil, err
	}
	out := maps.Clone(img.clientQuotas[r.Entity])
	if out == nil {
		out = make(map[string]float64, len(r.Set))
	}
	maps.Copy(out, r.Set)
	for _, k := range r.Delete {
		delete(out, k)
	}
	next := img.clone()
	if len(out) == 0 {
		delete(next.clientQuotas, r.Entity)
	} else {
		next.clientQuotas[r.Entity] = out
	}
	return next, nil
}

// compareQuotaEntities orders entities for snapshots: by user, then client
// id, each by kind then name.
func compareQuotaEntities(a, b QuotaEntity) int {
	return cmp.Or(cmp.Compare(a.User.Kind, b.User.Kind), cmp.Compare(a.User.Name, b.User.Name),
		cmp.Compare(a.ClientID.Kind, b.ClientID.Kind), cmp.Compare(a.ClientID.Name, b.ClientID.Name))
}

func (e *encoder) quotaEntity(q QuotaEntity) {
	for _, n := range []QuotaName{q.User, q.ClientID} {
		e.b = append(e.b, byte(n.Kind))
		if n.Kind == QuotaNamed {
			e.string(n.Name)
		}
	}
}

// quotaValues writes the values sorted by key, as float64 bits, so equal
// maps encode equally.
func (e *encoder) quotaValues(m map[string]float64) {
	keys := slices.Sorted(maps.Keys(m))
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.string(k)
		e.b = appendFloat(e.b, m[k])
	}
}

// clientQuotas writes the snapshot section of client quotas, by entity.
func (e *encoder) clientQuotas(m map[QuotaEntity]map[string]float64) {
	entities := slices.SortedFunc(maps.Keys(m), compareQuotaEntities)
	e.uvarint(uint64(len(entities)))
	for _, q := range entities {
		e.quotaEntity(q)
		e.quotaValues(m[q])
	}
}

func (d *decoder) quotaEntity() QuotaEntity {
	var q QuotaEntity
	for _, n := range []*QuotaName{&q.User, &q.ClientID} {
		if len(d.b) < 1 {
			d.fail("quota entity")
			return q
		}
		n.Kind = QuotaNameKind(d.b[0])
		d.b = d.b[1:]
		if n.Kind == QuotaNamed {
			n.Name = d.string()
		}
	}
	return q
}

func (d *decoder) quotaValues() map[string]float64 {
	n := d.count(9)
	if n == 0 {
		return nil
	}
	m := make(map[string]float64, n)
	for range n {
		k := d.string()
		m[k] = d.float()
	}
	return m
}

func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.fail("float")
		return 0
	}
	v := math.Float64frombits(uint64(d.b[0])<<56 | uint64(d.b[1])<<48 | uint64(d.b[2])<<40 | uint64(d.b[3])<<32 |
		uint64(d.b[4])<<24 | uint64(d.b[5])<<16 | uint64(d.b[6])<<8 | uint64(d.b[7]))
	d.b = d.b[8:]
	return v
}

func appendFloat(b []byte, v float64) []byte {
	u := math.Float64bits(v)
	return append(b, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32), byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

// clientQuotas reads the snapshot section encoder.clientQuotas writes into
// img, checking each entity as Apply would.
func (d *decoder) clientQuotas(img *Image) error {
	for range d.count(3) {
		q, vals := d.quotaEntity(), d.quotaValues()
		if d.err != nil {
			return nil
		}
		if _, dup := img.clientQuotas[q]; dup || len(vals) == 0 {
			return fmt.Errorf("%w: client quotas of %v twice or empty", ErrInvalidRecord, q)
		}
		if err := checkQuotaEntity(q); err != nil {
			return err
		}
		if err := checkQuotaValues(vals, nil); err != nil {
			return err
		}
		img.clientQuotas[q] = vals
	}
	return nil
}
