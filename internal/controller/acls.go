package controller

import (
	"context"
	"errors"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/metadata"
)

// CreateACLs stores bindings, which must each pass auth.Binding.Check, in
// one record: all of them or none. A binding equal to one already stored is
// not stored twice (as Kafka's controller skips it) and counts as created.
// The error is the context's or the log's.
func (c *Controller) CreateACLs(ctx context.Context, bindings []auth.Binding) error {
	_, _, err := decideAndApply(ctx, c, false, func(img *metadata.Image) (metadata.SetACLs, error) {
		return decideCreateACLs(img, bindings, newTopicID)
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err == nil {
		c.logger.Info("created ACLs", "count", len(bindings))
	}
	return err
}

// DeleteACLs removes the ACLs each filter matches, in one record, and
// returns the ACLs removed for each filter, in filter order (an ACL two
// filters match is listed under both). The error is the context's or the
// log's; no ACL is removed then.
func (c *Controller) DeleteACLs(ctx context.Context, filters []auth.Filter) ([][]metadata.ACL, error) {
	var matched [][]metadata.ACL
	_, _, err := decideAndApply(ctx, c, false, func(img *metadata.Image) (metadata.SetACLs, error) {
		var rec metadata.SetACLs
		rec, matched = decideDeleteACLs(img, filters)
		if len(rec.Delete) == 0 {
			return rec, errNoChange
		}
		return rec, nil
	})
	switch {
	case errors.Is(err, errNoChange):
		return matched, nil
	case err != nil:
		return nil, err
	}
	c.logger.Info("deleted ACLs", "count", len(matched))
	return matched, nil
}

// decideCreateACLs returns the record storing the bindings img lacks, each
// under a new id, or errNoChange when it has them all.
func decideCreateACLs(img *metadata.Image, bindings []auth.Binding, newID func() [16]byte) (metadata.SetACLs, error) {
	have := make(map[auth.Binding]bool)
	for _, a := range img.ACLs() {
		have[a.Binding] = true
	}
	var rec metadata.SetACLs
	for _, b := range bindings {
		if have[b] {
			continue
		}
		have[b] = true
		rec.Create = append(rec.Create, metadata.ACL{ID: newID(), Binding: b})
	}
	if len(rec.Create) == 0 {
		return rec, errNoChange
	}
	return rec, nil
}

// decideDeleteACLs returns the record removing every ACL of img a filter
// matches, and the matches of each filter.
func decideDeleteACLs(img *metadata.Image, filters []auth.Filter) (metadata.SetACLs, [][]metadata.ACL) {
	var rec metadata.SetACLs
	matched := make([][]metadata.ACL, len(filters))
	removed := make(map[[16]byte]bool)
	acls := img.ACLs()
	for i, f := range filters {
		for _, a := range acls {
			if !f.Matches(a.Binding) {
				continue
			}
			matched[i] = append(matched[i], a)
			if !removed[a.ID] {
				removed[a.ID] = true
				rec.Delete = append(rec.Delete, a.ID)
			}
		}
	}
	return rec, matched
}
