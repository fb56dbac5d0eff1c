package ami

import (
	"bytes"
	"fmt"
	"strings"
)

// AppendMessage appends m in wire form: "Key: Value\r\n" per field and an
// empty line. Keys and values must not hold line breaks, or a value could
// smuggle a second action into the stream.
func AppendMessage(b []byte, m Message) ([]byte, error) {
	for _, f := range m {
		if f.Key == "" || strings.ContainsAny(f.Key, ": \r\n") || strings.ContainsAny(f.Value, "\r\n") {
			return b, fmt.Errorf("%w: field %q", ErrMalformed, truncate(f.Key+": "+f.Value))
		}
		b = append(b, f.Key...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...), nil
}

// String renders m as on the wire, for logs and tests.
func (m Message) String() string {
	var buf bytes.Buffer
	for _, f := range m {
		fmt.Fprintf(&buf, "%s: %s\n", f.Key, f.Value)
	}
	return buf.String()
}
