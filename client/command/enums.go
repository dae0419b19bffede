package command

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// protoEnum is a generated proto enum type such as epermitv1.PermitStatus.
type protoEnum interface {
	~int32
	protoreflect.Enum
}

// enumPrefix returns the prefix shared by the value names of e's enum, taken
// from its zero value: "PERMIT_STATUS_" from PERMIT_STATUS_UNSPECIFIED.
func enumPrefix(d protoreflect.EnumDescriptor) string {
	return strings.TrimSuffix(string(d.Values().ByNumber(0).Name()), "UNSPECIFIED")
}

// enumWord spells an enum value for people and the command line: the value
// name without its prefix, lower case, with hyphens, so that
// PERMIT_STATUS_ACTIVE is "active" and CANCEL_REASON_LOCAL_HUKOU is
// "local-hukou". A number the descriptor does not know is spelled as the
// number.
func enumWord(e protoreflect.Enum) string {
	d := e.Descriptor()
	v := d.Values().ByNumber(e.Number())
	if v == nil {
		return strconv.Itoa(int(e.Number()))
	}
	name := strings.TrimPrefix(string(v.Name()), enumPrefix(d))
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

// enumWords returns the words of every value of E but the zero value, in
// number order.
func enumWords[E protoEnum]() []string {
	var zero E
	values := zero.Descriptor().Values()
	var words []string
	for i := range values.Len() {
		if n := values.Get(i).Number(); n != 0 {
			words = append(words, enumWord(E(n)))
		}
	}
	return words
}

// parseEnum returns the value of E spelled s, as enumWord spells it; case
// and the choice of '-' or '_' do not matter. The zero value is not
// accepted.
func parseEnum[E protoEnum](s string) (E, error) {
	want := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", "-"))
	var zero E
	values := zero.Descriptor().Values()
	for i := range values.Len() {
		if n := values.Get(i).Number(); n != 0 && enumWord(E(n)) == want {
			return E(n), nil
		}
	}
	return 0, fmt.Errorf("must be one of %s", strings.Join(enumWords[E](), ", "))
}

// enumFlag is a pflag.Value setting a proto enum from its word.
type enumFlag[E protoEnum] struct {
	target *E
	typ    string
}

// String returns the word of the current value, or "" for the zero value.
func (f enumFlag[E]) String() string {
	if *f.target == 0 {
		return ""
	}
	return enumWord(*f.target)
}

// Set parses s with parseEnum.
func (f enumFlag[E]) Set(s string) error {
	v, err := parseEnum[E](s)
	if err != nil {
		return err
	}
	*f.target = v
	return nil
}

// Type names the value in help, as in "--status status".
func (f enumFlag[E]) Type() string { return f.typ }

// outputFormat is the value of --output.
type outputFormat string

// The output formats.
const (
	outputTable outputFormat = "table"
	outputJSON  outputFormat = "json"
)

// String returns the format.
func (o *outputFormat) String() string { return string(*o) }

// Set accepts "table" or "json".
func (o *outputFormat) Set(s string) error {
	switch f := outputFormat(strings.ToLower(s)); f {
	case outputTable, outputJSON:
		*o = f
		return nil
	}
	return fmt.Errorf("must be one of %s, %s", outputTable, outputJSON)
}

// Type names the value in help.
func (o *outputFormat) Type() string { return "format" }

// enumListFlag is a repeatable pflag.Value collecting proto enum values
// from their words; each use may also list several, separated by commas.
// A value given twice is kept once.
type enumListFlag[E protoEnum] struct {
	target *[]E
	typ    string
}

// String returns the words of the values, separated by commas.
func (f enumListFlag[E]) String() string {
	words := make([]string, len(*f.target))
	for i, v := range *f.target {
		words[i] = enumWord(v)
	}
	return strings.Join(words, ",")
}

// Set parses each comma-separated word of s with parseEnum and adds it.
func (f enumListFlag[E]) Set(s string) error {
	for word := range strings.SplitSeq(s, ",") {
		v, err := parseEnum[E](word)
		if err != nil {
			return fmt.Errorf("%q: %w", strings.TrimSpace(word), err)
		}
		if !slices.Contains(*f.target, v) {
			*f.target = append(*f.target, v)
		}
	}
	return nil
}

// Type names the value in help, as in "--role role".
func (f enumListFlag[E]) Type() string { return f.typ }

// enumList spells enum values with enumWord, separated by ", ", or "-" for
// none.
func enumList[E protoEnum](values []E) string {
	if len(values) == 0 {
		return "-"
	}
	words := make([]string, len(values))
	for i, v := range values {
		words[i] = enumWord(v)
	}
	return strings.Join(words, ", ")
}
