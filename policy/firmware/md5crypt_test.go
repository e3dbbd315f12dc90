package firmware

import "testing"

// Vectors produced with `openssl passwd -1 -salt SALT PASSWORD`.
func TestMD5Crypt(t *testing.T) {
	for _, v := range []struct{ pw, salt, want string }{
		{"password", "saltsalt", "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"},
		{"admin", "BQzDYvsX", "$1$BQzDYvsX$CqQT83SaNAEl4uRPzzeif/"},
		{"admin", "$1$BQzDYvsX$", "$1$BQzDYvsX$CqQT83SaNAEl4uRPzzeif/"},
		{"", "abc", "$1$abc$Or2rbeUYTvt12aiVzMuS/."},
		{"a much longer password than sixteen bytes", "12345678", "$1$12345678$yLppq.aqtfjKiej5RWDLq/"},
	} {
		if got := MD5Crypt(v.pw, v.salt); got != v.want {
			t.Errorf("MD5Crypt(%q, %q) = %q, want %q", v.pw, v.salt, got, v.want)
		}
	}
}
