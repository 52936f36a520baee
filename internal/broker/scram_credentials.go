package broker

// DescribeUserScramCredentials (key 50) and AlterUserScramCredentials (key
// 51), version 0 each (KIP-554).
//
// Behavior:
//   - Under an authorizer, describing needs DESCRIBE and altering ALTER on
//     the cluster, as Kafka checks: CLUSTER_AUTHORIZATION_FAILED at the
//     top (describe) or for every user (alter) otherwise.
//   - Describe with no users (null or empty) lists every user that has a
//     SCRAM credential; otherwise one result per distinct user named, in
//     request order: its mechanisms and iterations, RESOURCE_NOT_FOUND for
//     a user without credentials, DUPLICATE_RESOURCE for a user named
//     twice. Kafka's messages.
//   - Alter takes one alteration per user: a second deletion or upsertion
//     of the same user is DUPLICATE_RESOURCE ("A user credential cannot be
//     altered twice in the same request"). An empty user is
//     UNACCEPTABLE_CREDENTIAL, an unknown mechanism
//     UNSUPPORTED_SASL_MECHANISM, iterations outside 4096..16384
//     UNACCEPTABLE_CREDENTIAL ("Too few iterations"/"Too many
//     iterations"), a deletion of a credential that does not exist
//     RESOURCE_NOT_FOUND. The client sends the salt and the salted
//     password; the broker keeps only the stored and server keys derived
//     from them (RFC 5802), written through the controller as one batch of
//     metadata records (kind 16): every valid user's change applies, or,
//     if the write fails, none.
//
// KIPs: KIP-554.

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/metadata"
)

func init() {
	register(50, 0, 0, (*Broker).handleDescribeUserScramCredentials)
	register(51, 0, 0, (*Broker).handleAlterUserScramCredentials)
}

// ScramCredential is the auth.CredentialLookup over the metadata image this
// node has applied.
func (b *Broker) ScramCredential(user string, m auth.ScramMechanism) (auth.ScramCredential, bool) {
	c, ok := b.store.Current().ScramCredential(user, int8(m))
	if !ok {
		return auth.ScramCredential{}, false
	}
	return auth.ScramCredential{Salt: c.Salt, Iterations: int(c.Iterations), StoredKey: c.StoredKey, ServerKey: c.ServerKey}, true
}

func (b *Broker) handleDescribeUserScramCredentials(_ context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !b.allowedCluster(req, auth.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	img := b.store.Current()
	creds := img.ScramCredentials()
	var users []string
	count := map[string]int{}
	if len(r.Users) == 0 {
		for _, c := range creds {
			if count[c.User] == 0 {
				users = append(users, c.User)
			}
			count[c.User] = 1
		}
	} else {
		for _, u := range r.Users {
			if count[u.Name] == 0 {
				users = append(users, u.Name)
			}
			count[u.Name]++
		}
	}
	for _, user := range users {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = user
		for _, c := range creds {
			if c.User == user {
				info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				info.Mechanism, info.Iterations = c.Mechanism, c.Iterations
				res.CredentialInfos = append(res.CredentialInfos, info)
			}
		}
		var err error
		switch {
		case count[user] > 1:
			err = apiErrorf(kerr.DuplicateResource, "Cannot describe SCRAM credentials for the same user twice in a single request: %s", user)
		case len(res.CredentialInfos) == 0:
			err = apiErrorf(kerr.ResourceNotFound, "Attempt to describe a user credential that does not exist: %s", user)
		}
		if err != nil {
			res.CredentialInfos = nil
			res.ErrorCode, res.ErrorMessage = b.errorCode(err), errorMessage(err)
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// scramAlteration is one user's deletion or upsertion.
type scramAlteration struct {
	user       string
	mechanism  int8
	delete     bool
	iterations int32
	salt       []byte
	salted     []byte
}

func (b *Broker) handleAlterUserScramCredentials(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := r.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	var alts []scramAlteration
	for _, d := range r.Deletions {
		alts = append(alts, scramAlteration{user: d.Name, mechanism: d.Mechanism, delete: true})
	}
	for _, u := range r.Upsertions {
		alts = append(alts, scramAlteration{user: u.Name, mechanism: u.Mechanism, iterations: u.Iterations, salt: u.Salt, salted: u.SaltedPassword})
	}
	var users []string
	byUser := map[string]int{}
	for _, a := range alts {
		if byUser[a.user] == 0 {
			users = append(users, a.user)
		}
		byUser[a.user]++
	}
	errs := map[string]error{}
	if !b.allowedCluster(req, auth.OpAlter) {
		for _, user := range users {
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode = user, kerr.ClusterAuthorizationFailed.Code
			resp.Results = append(resp.Results, res)
		}
		return resp, nil
	}
	err := b.ctrl.AlterScramCredentials(ctx, func(img *metadata.Image) ([]metadata.ScramCredential, error) {
		clear(errs)
		var changes []metadata.ScramCredential
		for _, a := range alts {
			if _, failed := errs[a.user]; failed {
				continue
			}
			if byUser[a.user] > 1 {
				errs[a.user] = apiErrorf(kerr.DuplicateResource, "A user credential cannot be altered twice in the same request")
				continue
			}
			c, err := a.decide(img)
			if err != nil {
				errs[a.user] = err
				continue
			}
			changes = append(changes, c)
		}
		return changes, nil
	})
	for _, user := range users {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = user
		uerr := errs[user]
		if uerr == nil {
			uerr = adminError(err)
		}
		if uerr != nil {
			res.ErrorCode, res.ErrorMessage = b.errorCode(uerr), errorMessage(uerr)
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// decide checks a with Kafka's rules against img and returns its record.
func (a scramAlteration) decide(img *metadata.Image) (metadata.ScramCredential, error) {
	m := auth.ScramMechanism(a.mechanism)
	switch {
	case a.user == "":
		return metadata.ScramCredential{}, apiErrorf(kerr.UnacceptableCredential, "Username must not be empty")
	case !m.Valid():
		return metadata.ScramCredential{}, apiErrorf(kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
	}
	if a.delete {
		if _, ok := img.ScramCredential(a.user, a.mechanism); !ok {
			return metadata.ScramCredential{}, apiErrorf(kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist")
		}
		return metadata.ScramCredential{User: a.user, Mechanism: a.mechanism, Delete: true}, nil
	}
	switch {
	case a.iterations < auth.MinScramIterations:
		return metadata.ScramCredential{}, apiErrorf(kerr.UnacceptableCredential, "Too few iterations")
	case a.iterations > auth.MaxScramIterations:
		return metadata.ScramCredential{}, apiErrorf(kerr.UnacceptableCredential, "Too many iterations")
	case len(a.salt) == 0:
		return metadata.ScramCredential{}, apiErrorf(kerr.UnacceptableCredential, "Salt must not be empty")
	case len(a.salted) != m.KeySize():
		return metadata.ScramCredential{}, apiErrorf(kerr.UnacceptableCredential,
			"%s", fmt.Sprintf("The salted password of %s must be %d bytes", m, m.KeySize()))
	}
	c := auth.NewScramCredential(m, slices.Clone(a.salt), a.salted, int(a.iterations))
	return metadata.ScramCredential{User: a.user, Mechanism: a.mechanism, Salt: c.Salt,
		Iterations: a.iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}, nil
}
