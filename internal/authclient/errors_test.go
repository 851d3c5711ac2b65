package authclient

import (
	"reflect"
	"strings"
	"testing"
)

// The messages below are what the Auth service sends for a 403, written
// out by hand: the body of the message comes from
// libraries/api/src/middleware/auth.js in taskcluster/taskcluster (the
// "missing the following scopes" and "requires Taskcluster credentials"
// templates), the unsatisfied expression from taskcluster-lib-scopes'
// removeGivenScopes, the substitution of {{unsatisfied}} / {{required}}
// (a string as it is, anything else as JSON.stringify(value, null, 2))
// and the "---" footer from libraries/api/src/middleware/express-error.js.
const footer = "\n\n---\n\n* method:     %s\n* errorCode:  InsufficientScopes\n* statusCode: 403\n* time:       2026-12-02T14:01:02.345Z"

func upstream403(method, body string) *Error {
	return &Error{Route: method, StatusCode: 403, Code: "InsufficientScopes", Message: body + strings.Replace(footer, "%s", method, 1)}
}

func TestMissingScopesEveryRenderedForm(t *testing.T) {
	for _, c := range []struct {
		name    string
		err     *Error
		want    []string
		errText string
	}{
		{
			// sentryDSN: scopes 'auth:sentry:<project>' (services/auth/src/sentry.js);
			// a lone unsatisfied scope is substituted as a bare string.
			name: "bare scope",
			err: upstream403("sentryDSN", "Client ID my/client does not have sufficient scopes and is missing the following scopes:\n\n"+
				"```\nauth:sentry:my-project\n```\n\n"+
				"This request requires the client to satisfy the following scope expression:\n\n"+
				"```\nauth:sentry:my-project\n```"),
			want:    []string{"auth:sentry:my-project"},
			errText: "(missing scope auth:sentry:my-project)",
		},
		{
			// awsS3Credentials at read-only: {AnyOf: [read-only, read-write]}
			// (services/auth/src/aws.js); neither is held, so the whole AnyOf
			// is unsatisfied and JSON-encoded with two-space indents.
			name: "AnyOf",
			err: upstream403("awsS3Credentials", "Client ID my/client does not have sufficient scopes and is missing the following scopes:\n\n"+
				"```\n{\n  \"AnyOf\": [\n    \"auth:aws-s3:read-only:my-bucket/builds/\",\n    \"auth:aws-s3:read-write:my-bucket/builds/\"\n  ]\n}\n```\n\n"+
				"This request requires the client to satisfy the following scope expression:\n\n"+
				"```\n{\n  \"AnyOf\": [\n    \"auth:aws-s3:read-only:my-bucket/builds/\",\n    \"auth:aws-s3:read-write:my-bucket/builds/\"\n  ]\n}\n```"),
			want:    []string{"auth:aws-s3:read-only:my-bucket/builds/", "auth:aws-s3:read-write:my-bucket/builds/"},
			errText: "(missing one of the scopes auth:aws-s3:read-only:my-bucket/builds/, auth:aws-s3:read-write:my-bucket/builds/)",
		},
		{
			// createClient: {AllOf: ['auth:create-client:<clientId>', {for
			// scope in scopes}]} (services/auth/src/api.js); two unsatisfied
			// members stay an AllOf.
			name: "AllOf",
			err: upstream403("createClient", "Client ID my/client does not have sufficient scopes and is missing the following scopes:\n\n"+
				"```\n{\n  \"AllOf\": [\n    \"auth:create-client:new\",\n    \"queue:create-task:x\"\n  ]\n}\n```\n\n"+
				"This request requires the client to satisfy the following scope expression:\n\n"+
				"```\n{\n  \"AllOf\": [\n    \"auth:create-client:new\",\n    \"queue:create-task:x\",\n    \"queue:route:y\"\n  ]\n}\n```"),
			want:    []string{"auth:create-client:new", "queue:create-task:x"},
			errText: "(missing all of the scopes auth:create-client:new, queue:create-task:x)",
		},
		{
			// A nested requirement as lib-api allows it
			// ({AnyOf: [scope, {AllOf: [...]}]}), all of it unsatisfied.
			name: "nested",
			err: upstream403("someMethod", "Client ID my/client does not have sufficient scopes and is missing the following scopes:\n\n"+
				"```\n{\n  \"AnyOf\": [\n    \"service:admin\",\n    {\n      \"AllOf\": [\n        \"service:read\",\n        \"service:write\"\n      ]\n    }\n  ]\n}\n```\n\n"+
				"This request requires the client to satisfy the following scope expression:\n\n"+
				"```\n{\n  \"AnyOf\": [\n    \"service:admin\",\n    {\n      \"AllOf\": [\n        \"service:read\",\n        \"service:write\"\n      ]\n    }\n  ]\n}\n```"),
			want:    []string{"service:admin", "service:read", "service:write"},
			errText: "(missing one of the scopes service:admin, (all of the scopes service:read, service:write))",
		},
		{
			// No credentials at all: auth.js only names the requirement.
			name: "anonymous",
			err: upstream403("websocktunnelToken", "This request requires Taskcluster credentials that satisfy the following scope expression:\n\n"+
				"```\nauth:websocktunnel-token:aud/wst-client\n```"),
			want:    []string{"auth:websocktunnel-token:aud/wst-client"},
			errText: "(missing scope auth:websocktunnel-token:aud/wst-client)",
		},
		{
			// A scope may hold spaces and braces; one that does not decode
			// as an expression is still a bare scope.
			name: "bare scope starting with a brace",
			err: upstream403("sentryDSN", "Client ID c does not have sufficient scopes and is missing the following scopes:\n\n"+
				"```\n{odd scope\n```\n\n"+
				"This request requires the client to satisfy the following scope expression:\n\n"+
				"```\n{odd scope\n```"),
			want:    []string{"{odd scope"},
			errText: "(missing scope {odd scope)",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.err.MissingScopes(); !reflect.DeepEqual(got, c.want) {
				t.Errorf("MissingScopes = %q, want %q", got, c.want)
			}
			if got := c.err.Error(); !strings.HasSuffix(got, c.errText) {
				t.Errorf("Error() = %q, want it to end in %q", got, c.errText)
			}
			if got := MissingScopes(c.err); !reflect.DeepEqual(got, c.want) {
				t.Errorf("MissingScopes(err) = %q", got)
			}
		})
	}
}

func TestMissingScopesOnlyForInsufficientScopes(t *testing.T) {
	e := upstream403("sentryDSN", "Client ID c does not have sufficient scopes and is missing the following scopes:\n\n```\nx\n```")
	e.Code = "AuthenticationFailed"
	if got := e.MissingScopes(); got != nil {
		t.Errorf("MissingScopes = %q for another code", got)
	}
	if strings.Contains(e.Error(), "(missing") {
		t.Errorf("Error() = %q", e.Error())
	}
	unfenced := upstream403("sentryDSN", "Client ID c does not have sufficient scopes and is missing the following scopes: x")
	if got := unfenced.MissingScopes(); got != nil {
		t.Errorf("MissingScopes = %q without a fenced block", got)
	}
}
