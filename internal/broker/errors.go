package broker

import (
	"context"
	"errors"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	etcdraft "go.etcd.io/raft/v3"

	"github.com/stratalog/strata/internal/commitlog"
	"github.com/stratalog/strata/internal/raft"
	"github.com/stratalog/strata/internal/recordbatch"
)

// kafkaError maps an error from below to the Kafka error it is answered
// with. Subsystems return kerr values (possibly wrapped with a message) or
// their own sentinels; anything else is UNKNOWN_SERVER_ERROR, logged.
func (b *Broker) kafkaError(err error) *kerr.Error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke
	case errors.Is(err, commitlog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange
	case errors.Is(err, recordbatch.ErrMagic):
		return kerr.UnsupportedForMessageFormat
	case errors.Is(err, recordbatch.ErrCodec):
		return kerr.UnsupportedCompressionType
	case errors.Is(err, recordbatch.ErrInvalidRecord), errors.Is(err, recordbatch.ErrMissingKey):
		return kerr.InvalidRecord
	case errors.Is(err, recordbatch.ErrCorrupt), errors.Is(err, recordbatch.ErrTruncated):
		return kerr.CorruptMessage
	case errors.Is(err, etcdraft.ErrProposalDropped), errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrStopped):
		// The metadata quorum has no leader now: retriable, as Kafka's
		// NOT_CONTROLLER for an admin request the controller cannot take.
		return kerr.NotController
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EIO), errors.Is(err, syscall.EROFS),
		errors.Is(err, commitlog.ErrClosed):
		b.logger.Error("storage error", "err", err)
		return kerr.KafkaStorageError
	}
	b.logger.Error("unexpected error", "err", err)
	return kerr.UnknownServerError
}

// errorCode is kafkaError's code, 0 for nil.
func (b *Broker) errorCode(err error) int16 {
	if ke := b.kafkaError(err); ke != nil {
		return ke.Code
	}
	return 0
}

// errorMessage is the text sent in ErrorMessage fields: the error's own text
// when it says more than the bare Kafka error, else nil.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && err == error(ke) {
		return nil
	}
	s := err.Error()
	return &s
}
