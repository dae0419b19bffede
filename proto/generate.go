// Package proto holds the epermit API definitions; the generated Go code lives
// beside each .proto file. Regenerate it after editing a .proto with:
//
//	go generate ./proto/...
package proto

//go:generate sh -c "cd .. && go tool -modfile=tools/buf/go.mod buf generate && go tool -modfile=tools/buf/go.mod buf lint"
