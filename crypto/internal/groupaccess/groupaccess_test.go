package groupaccess_test

import (
	"testing"

	"filippo.io/edwards25519"

	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/internal/groupaccess"
)

// TestElementPoint checks that package group set the hook, that it reads an element's point, and that writing
// through it sets the element.
func TestElementPoint(t *testing.T) {
	g := group.Generator()
	if groupaccess.ElementPoint(g).Equal(edwards25519.NewGeneratorPoint()) != 1 {
		t.Fatal("the point of group.Generator() is not edwards25519's base point")
	}
	e := group.NewElement()
	groupaccess.ElementPoint(e).Add(edwards25519.NewGeneratorPoint(), edwards25519.NewGeneratorPoint())
	if e.Equal(group.NewElement().Add(g, g)) != 1 {
		t.Fatal("writing through the pointer did not set the element")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a value that is not a *group.Element was accepted")
		}
	}()
	groupaccess.ElementPoint(edwards25519.NewGeneratorPoint())
}
