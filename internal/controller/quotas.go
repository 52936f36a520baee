package controller

import (
	"context"
	"errors"
	"maps"

	"github.com/stratalog/strata/internal/metadata"
)

// AlterClientQuotas sets the quotas in set and removes those in del of one
// entity; removing a quota that is not set is a no-op. The caller has
// checked the keys and values. validateOnly, or a change that changes
// nothing, proposes nothing.
func (c *Controller) AlterClientQuotas(ctx context.Context, entity metadata.QuotaEntity, set map[string]float64, del []string, validateOnly bool) error {
	_, rec, err := decideAndApply(ctx, c, validateOnly, func(img *metadata.Image) (metadata.SetClientQuotas, error) {
		cur := img.ClientQuotas()[entity]
		rec := metadata.SetClientQuotas{Entity: entity}
		for k, v := range set {
			if old, ok := cur[k]; !ok || old != v {
				if rec.Set == nil {
					rec.Set = map[string]float64{}
				}
				rec.Set[k] = v
			}
		}
		for _, k := range del {
			if _, ok := cur[k]; ok {
				rec.Delete = append(rec.Delete, k)
			}
		}
		if len(rec.Set)+len(rec.Delete) == 0 {
			return rec, errNoChange
		}
		return rec, nil
	})
	switch {
	case errors.Is(err, errNoChange):
		return nil
	case err == nil && !validateOnly:
		c.logger.Info("client quotas changed", "entity", entity, "set", maps.Clone(rec.Set), "removed", rec.Delete)
	}
	return err
}
