package app

import (
	"context"
	"errors"
)

func (rt *Runtime) startKubernetes(ctx context.Context) error {
	return errors.New("kubernetes discovery is not available in this build")
}
