package sipbridge

import (
	"context"
	"errors"
)

// errNotBuilt marks call control whose implementation is still being
// written on its branch; it never reaches a release.
var errNotBuilt = errors.New("call control not built yet")

// MediaState is the call's current media state.
func (c *Call) MediaState() MediaState { return MediaNone }

// Hold puts the call on hold: a re-INVITE offering a=sendonly (a=inactive
// when the far end already holds). It returns once the far end answered.
func (c *Call) Hold(ctx context.Context) error { return errNotBuilt }

// Resume takes the call off hold: a re-INVITE offering a=sendrecv.
func (c *Call) Resume(ctx context.Context) error { return errNotBuilt }
