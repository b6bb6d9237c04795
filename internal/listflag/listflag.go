// Package listflag owns repeatable command-line flags that parse each use
// into an element of a list (the simulators' -rule).
package listflag

import (
	"fmt"
	"strings"
)

// Value is a flag.Value: every Set parses one value with Parse and
// appends it to *List. String shows the list as the quoted String of each
// element.
type Value[T fmt.Stringer] struct {
	List  *[]T
	Parse func(string) (T, error)
}

func (v *Value[T]) String() string {
	if v == nil || v.List == nil {
		return ""
	}
	s := make([]string, len(*v.List))
	for i, e := range *v.List {
		s[i] = fmt.Sprintf("%q", e.String())
	}
	return strings.Join(s, " ")
}

func (v *Value[T]) Set(s string) error {
	e, err := v.Parse(s)
	if err != nil {
		return err
	}
	*v.List = append(*v.List, e)
	return nil
}
