package election_test

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"google.golang.org/protobuf/proto"
)

// stateDiff returns where two values (two States) differ, or "" if they do not: it walks pointers, structs, maps,
// slices and arrays, unexported fields included, and compares record messages with proto.Equal. A field pointing
// to a struct that holds a sync.Once (an election key's tables, built on first use) is a cache, not state, and is
// skipped: checking a ballot builds it.
func stateDiff(a, b any) string {
	d := &differ{seen: map[[2]uintptr]bool{}}
	return d.diff(reflect.ValueOf(a), reflect.ValueOf(b), "")
}

type differ struct{ seen map[[2]uintptr]bool }

var (
	protoMessage = reflect.TypeFor[proto.Message]()
	onceType     = reflect.TypeFor[sync.Once]()
)

// accessible returns v, addressable and usable although reached through unexported fields.
func accessible(v reflect.Value) reflect.Value {
	if !v.CanAddr() {
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		return c
	}
	return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
}

func isLazyCache(t reflect.Type) bool {
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return false
	}
	for f := range t.Elem().Fields() {
		if f.Type == onceType {
			return true
		}
	}
	return false
}

func (d *differ) diff(a, b reflect.Value, path string) string {
	if a.Type() != b.Type() {
		return fmt.Sprintf("%s: type %v, %v", path, a.Type(), b.Type())
	}
	if a.Kind() != reflect.Pointer && a.Kind() != reflect.Interface && a.Kind() != reflect.Map && a.Kind() != reflect.Slice {
		if a.CanAddr() && b.CanAddr() && a.Addr().Type().Implements(protoMessage) {
			if !proto.Equal(accessible(a).Addr().Interface().(proto.Message), accessible(b).Addr().Interface().(proto.Message)) {
				return path + ": record messages differ"
			}
			return ""
		}
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return path + ": nil and not nil"
			}
			return ""
		}
		key := [2]uintptr{a.Pointer(), b.Pointer()}
		if d.seen[key] {
			return ""
		}
		d.seen[key] = true
		return d.diff(a.Elem(), b.Elem(), path)
	case reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return path + ": nil and not nil"
			}
			return ""
		}
		return d.diff(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		a, b = accessible(a), accessible(b)
		for i := range a.NumField() {
			f := a.Type().Field(i)
			if isLazyCache(f.Type) {
				continue
			}
			if s := d.diff(accessible(a.Field(i)), accessible(b.Field(i)), path+"."+f.Name); s != "" {
				return s
			}
		}
		return ""
	case reflect.Map:
		if a.Len() != b.Len() || a.IsNil() != b.IsNil() {
			return fmt.Sprintf("%s: %d and %d elements", path, a.Len(), b.Len())
		}
		a, b = accessible(a), accessible(b)
		for it := a.MapRange(); it.Next(); {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() {
				return fmt.Sprintf("%s[%v]: in one only", path, it.Key())
			}
			if s := d.diff(accessible(it.Value()), accessible(bv), fmt.Sprintf("%s[%v]", path, it.Key())); s != "" {
				return s
			}
		}
		return ""
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() || (a.Kind() == reflect.Slice && a.IsNil() != b.IsNil()) {
			return fmt.Sprintf("%s: %d and %d elements", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if s := d.diff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); s != "" {
				return s
			}
		}
		return ""
	case reflect.Bool:
		if a.Bool() != b.Bool() {
			return fmt.Sprintf("%s: %v, %v", path, a.Bool(), b.Bool())
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if a.Int() != b.Int() {
			return fmt.Sprintf("%s: %v, %v", path, a.Int(), b.Int())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if a.Uint() != b.Uint() {
			return fmt.Sprintf("%s: %v, %v", path, a.Uint(), b.Uint())
		}
	case reflect.String:
		if a.String() != b.String() {
			return fmt.Sprintf("%s: %q, %q", path, a.String(), b.String())
		}
	case reflect.Float32, reflect.Float64:
		if a.Float() != b.Float() {
			return fmt.Sprintf("%s: %v, %v", path, a.Float(), b.Float())
		}
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		if a.Pointer() != b.Pointer() {
			return path + ": different " + a.Kind().String()
		}
	default:
		return fmt.Sprintf("%s: cannot compare a %v", path, a.Kind())
	}
	return ""
}
