package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordFormats are the output formats of `strata consume`, by name.
var recordFormats = map[string]func(w io.Writer, r *kgo.Record) error{
	"value": writeValue,
	"kv":    writeKeyValue,
	"full":  writeFull,
	"json":  writeJSON,
}

// recordFormatNames lists recordFormats for help and errors.
const recordFormatNames = "value, kv, full or json"

// nullText stands for a null key or value in the text formats, as in
// Kafka's console consumer.
const nullText = "null"

// timestampLayout prints record timestamps: RFC 3339 in UTC with
// milliseconds, Kafka's timestamp precision.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// writeValue writes the value and a newline.
func writeValue(w io.Writer, r *kgo.Record) error {
	_, err := fmt.Fprintf(w, "%s\n", textOrNull(r.Value))
	return err
}

// writeKeyValue writes key TAB value and a newline.
func writeKeyValue(w io.Writer, r *kgo.Record) error {
	_, err := fmt.Fprintf(w, "%s\t%s\n", textOrNull(r.Key), textOrNull(r.Value))
	return err
}

// writeFull writes every part of the record as tab-separated name:value
// fields, headers as k=v joined by commas:
//
//	partition:0	offset:5	timestamp:2024-01-02T03:04:05.678Z	key:k	headers:a=1,b=2	value:v
func writeFull(w io.Writer, r *kgo.Record) error {
	hs := make([]string, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = h.Key + "=" + string(h.Value)
	}
	_, err := fmt.Fprintf(w, "partition:%d\toffset:%d\ttimestamp:%s\tkey:%s\theaders:%s\tvalue:%s\n",
		r.Partition, r.Offset, r.Timestamp.UTC().Format(timestampLayout),
		textOrNull(r.Key), strings.Join(hs, ","), textOrNull(r.Value))
	return err
}

// jsonRecord is the object the json format writes per record. Key and value
// are strings (invalid UTF-8 becomes U+FFFD) or null; timestamp is Unix
// milliseconds.
type jsonRecord struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"`
	Key       *string      `json:"key"`
	Headers   []jsonHeader `json:"headers"`
	Value     *string      `json:"value"`
}

type jsonHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// writeJSON writes the record as one JSON object and a newline.
func writeJSON(w io.Writer, r *kgo.Record) error {
	jr := jsonRecord{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp.UnixMilli(),
		Key:       stringOrNil(r.Key),
		Headers:   make([]jsonHeader, len(r.Headers)),
		Value:     stringOrNil(r.Value),
	}
	for i, h := range r.Headers {
		jr.Headers[i] = jsonHeader{Key: h.Key, Value: string(h.Value)}
	}
	b, err := json.Marshal(jr)
	if err != nil {
		return fmt.Errorf("encode record as json: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func textOrNull(b []byte) string {
	if b == nil {
		return nullText
	}
	return string(b)
}

func stringOrNil(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}
