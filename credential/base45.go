package credential

import "fmt"

// base45Alphabet is the 45-character alphabet of RFC 9285, section 4: the
// characters of QR code alphanumeric mode.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// base45Values maps a byte to its Base45 value, or -1 if it is not in the
// alphabet.
var base45Values = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := range len(base45Alphabet) {
		v[base45Alphabet[i]] = int8(i)
	}
	return v
}()

// appendBase45 appends the Base45 encoding of src to dst (RFC 9285,
// section 4): every two bytes n = a*256+b become the three characters
// n mod 45, n/45 mod 45 and n/2025; a last single byte becomes two.
func appendBase45(dst, src []byte) []byte {
	for len(src) >= 2 {
		n := int(src[0])<<8 | int(src[1])
		dst = append(dst, base45Alphabet[n%45], base45Alphabet[n/45%45], base45Alphabet[n/2025])
		src = src[2:]
	}
	if len(src) == 1 {
		n := int(src[0])
		dst = append(dst, base45Alphabet[n%45], base45Alphabet[n/45])
	}
	return dst
}

// appendBase45Decode appends the bytes that the Base45 string s encodes to
// dst. It rejects characters outside the alphabet, a length of 1 modulo 3,
// and groups whose value does not fit their bytes (RFC 9285, section 4.2).
func appendBase45Decode(dst []byte, s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return dst, fmt.Errorf("length %d leaves a single character over", len(s))
	}
	for i := 0; i < len(s); i += 3 {
		n, weight := 0, 1
		for j := i; j < i+3 && j < len(s); j++ {
			v := base45Values[s[j]]
			if v < 0 {
				return dst, fmt.Errorf("invalid character %q at position %d", s[j:j+1], j)
			}
			n += int(v) * weight
			weight *= 45
		}
		if i+3 <= len(s) {
			if n > 0xffff {
				return dst, errBase45Overflow(i)
			}
			dst = append(dst, byte(n>>8), byte(n))
		} else {
			if n > 0xff {
				return dst, errBase45Overflow(i)
			}
			dst = append(dst, byte(n))
		}
	}
	return dst, nil
}

func errBase45Overflow(pos int) error {
	return fmt.Errorf("characters at position %d encode a value too large for their bytes", pos)
}
