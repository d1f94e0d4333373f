package web

import (
	"fmt"
	"net/url"
)

// JoinURL joins a base URL, which may carry a path prefix such as an API stage ("/dev") with or without
// a trailing slash but never a resource path, with path segments, each escaped as one segment:
// JoinURL("http://h:3002/dev/", "orders", "7") is "http://h:3002/dev/orders/7".
func JoinURL(base string, segments ...string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("base url %q must be an absolute http(s) url", base)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("base url %q must not carry a query or fragment", base)
	}
	esc := make([]string, len(segments))
	for i, s := range segments {
		// "." and ".." would be cleaned away by path joining and address another resource.
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("path segment %q cannot be joined to a url", s)
		}
		esc[i] = url.PathEscape(s)
	}
	return u.JoinPath(esc...).String(), nil
}
