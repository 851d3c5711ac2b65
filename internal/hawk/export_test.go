package hawk

import "net/url"

// HeaderAt signs with a fixed ts and nonce, for test vectors.
func (c *Credentials) HeaderAt(method string, u *url.URL, ts int64, nonce string) (string, error) {
	return c.header(method, u, ts, nonce)
}
