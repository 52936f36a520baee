package recordbatch

// Recompress re-encodes the records of the valid batch b with codec c, as
// the broker must for a topic whose compression.type names a codec other
// than the producer's. Producer id, epoch, base sequence, the transactional
// flag, timestamps and record contents are kept; the new batch has base
// offset 0 and a fresh CRC. scratch is as for Iterate.
func Recompress(b []byte, c Codec, scratch *[]byte) ([]byte, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, 0, h.NumRecords)
	err = Iterate(b, scratch, func(r *Record) error {
		cp := *r
		cp.Headers = append([]RecordHeader(nil), r.Headers...)
		recs = append(recs, cp)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return Build(BuildOptions{
		Codec:         c,
		BaseTimestamp: h.BaseTimestamp,
		ProducerID:    h.ProducerID,
		ProducerEpoch: h.ProducerEpoch,
		BaseSequence:  h.BaseSequence,
		Transactional: h.Transactional(),
		LogAppendTime: h.LogAppendTime(),
	}, recs)
}
