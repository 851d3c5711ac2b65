module github.com/taskcluster/tc-credd

go 1.26.0

require github.com/gorilla/mux v1.8.1

require (
	github.com/patrickmn/go-cache v2.1.0+incompatible // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
)
