// The Go peer of verify-bench, standard library only.
//
//	verifybench crl -crl CRL.der -ca CA.der -lookups LOOKUPS.bin -passes N
//	verifybench verify -crl CRL.der -ca CA.der -msgs DIR -count N -seconds S
//
// crl: x509.ParseRevocationList, a map from serial bytes to the entry, lookups in it, and the
// CRL's signature (CheckSignatureFrom). verify: the same job as honnin's cms::verify + CRL status,
// on detached CMS SignedData messages made by `openssl cms -sign` (see docs/benchmarks.md): the
// standard library has no CMS, so the SignedData is decoded here with encoding/asn1. Prints
// key=value lines: seconds and bytes.
package main

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

func status(field string) int64 {
	text, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "verifybench: "+format+"\n", args...)
	os.Exit(1)
}

func readFile(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		die("%v", err)
	}
	return b
}

func readCA(path string) *x509.Certificate {
	ca, err := x509.ParseCertificate(readFile(path))
	if err != nil {
		die("CA: %v", err)
	}
	return ca
}

// The index: serial (big-endian magnitude bytes, as big.Int.Bytes) to the entry's position.
func index(rl *x509.RevocationList) map[string]int32 {
	m := make(map[string]int32, len(rl.RevokedCertificates))
	for i := range rl.RevokedCertificates {
		m[string(rl.RevokedCertificates[i].SerialNumber.Bytes())] = int32(i)
	}
	return m
}

func crlMode(args []string) {
	fs := flag.NewFlagSet("crl", flag.ExitOnError)
	crlPath := fs.String("crl", "", "DER CRL")
	caPath := fs.String("ca", "", "DER CA certificate")
	lookupsPath := fs.String("lookups", "", "u64 little-endian serials")
	passes := fs.Int("passes", 1, "passes over the lookups")
	fs.Parse(args)

	ca := readCA(*caPath)
	raw := readFile(*lookupsPath)
	keys := make([]string, 0, len(raw)/8)
	for i := 0; i+8 <= len(raw); i += 8 {
		keys = append(keys, string(new(big.Int).SetUint64(binary.LittleEndian.Uint64(raw[i:])).Bytes()))
	}
	runtime.GC()
	debug.FreeOSMemory()
	before := status("VmRSS")
	der := readFile(*crlPath)
	start := time.Now()
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		die("ParseRevocationList: %v", err)
	}
	parsed := time.Since(start)
	m := index(rl)
	built := time.Since(start)
	der = nil
	runtime.GC()
	debug.FreeOSMemory()
	kept := status("VmRSS") - before

	start = time.Now()
	hits := 0
	for p := 0; p < *passes; p++ {
		for _, k := range keys {
			if _, ok := m[k]; ok {
				hits++
			}
		}
	}
	lookups := time.Since(start)

	start = time.Now()
	sigErr := rl.CheckSignatureFrom(ca)
	sig := time.Since(start)

	fmt.Printf("version=%s\n", runtime.Version())
	fmt.Printf("entries=%d\n", len(m))
	fmt.Printf("parse_secs=%f\n", parsed.Seconds())
	fmt.Printf("index_secs=%f\n", built.Seconds())
	fmt.Printf("retained_bytes=%d\n", kept)
	fmt.Printf("peak_rss=%d\n", status("VmHWM"))
	fmt.Printf("lookups=%d\n", len(keys)**passes)
	fmt.Printf("lookup_secs=%f\n", lookups.Seconds())
	fmt.Printf("hits=%d\n", hits / *passes)
	fmt.Printf("signature_secs=%f\n", sig.Seconds())
	if sigErr == nil {
		fmt.Println("signature_ok=1")
	} else {
		fmt.Println("signature_ok=0")
		fmt.Fprintf(os.Stderr, "CheckSignatureFrom: %v\n", sigErr)
	}
	runtime.KeepAlive(rl)
}

// CMS (RFC 5652) structures, as far as the job needs them.
// Content is the [0] EXPLICIT wrapper itself (encoding/asn1 does not unwrap a RawValue); its Bytes
// are the SignedData.
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type encapContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"optional,explicit,tag:0"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type signerInfo struct {
	Version            int
	Sid                issuerAndSerial
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapContentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue
}

var (
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSA           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
)

// verifyOne: decode the CMS SignedData, find the signer's certificate in it, check it against the
// root (signature, CA flags, validity of both), check the content digest and content type in the
// signed attributes and the RSA PKCS#1 v1.5 signature over their DER, then look the signer's
// serial up in the CRL map. Returns whether the signer is revoked.
func verifyOne(root *x509.Certificate, crl map[string]int32, message, content []byte, now time.Time) (bool, error) {
	var ci contentInfo
	if _, err := asn1.Unmarshal(message, &ci); err != nil {
		return false, err
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return false, errors.New("not SignedData")
	}
	var sd signedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return false, err
	}
	if len(sd.SignerInfos) != 1 {
		return false, errors.New("not one signer")
	}
	si := &sd.SignerInfos[0]
	certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
	if err != nil {
		return false, err
	}
	var cert *x509.Certificate
	for _, c := range certs {
		if c.SerialNumber.Cmp(si.Sid.Serial) == 0 && bytes.Equal(c.RawIssuer, si.Sid.Issuer.FullBytes) {
			cert = c
			break
		}
	}
	if cert == nil {
		return false, errors.New("signer certificate missing")
	}
	if err := cert.CheckSignatureFrom(root); err != nil {
		return false, err
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) || now.Before(root.NotBefore) || now.After(root.NotAfter) {
		return false, errors.New("outside validity")
	}
	if !si.DigestAlgorithm.Algorithm.Equal(oidSHA256) {
		return false, errors.New("digest is not SHA-256")
	}
	if !si.SignatureAlgorithm.Algorithm.Equal(oidRSA) && !si.SignatureAlgorithm.Algorithm.Equal(oidSHA256WithRSA) {
		return false, errors.New("signature is not RSA")
	}
	if len(si.SignedAttrs.FullBytes) == 0 {
		return false, errors.New("no signed attributes")
	}
	// RFC 5652 5.4: the signature covers the attributes' DER with the SET OF tag.
	signed := make([]byte, len(si.SignedAttrs.FullBytes))
	copy(signed, si.SignedAttrs.FullBytes)
	signed[0] = 0x31
	var attrs []attribute
	if _, err := asn1.UnmarshalWithParams(signed, &attrs, "set"); err != nil {
		return false, err
	}
	var digest []byte
	var contentType asn1.ObjectIdentifier
	for _, a := range attrs {
		switch {
		case a.Type.Equal(oidMessageDigest):
			if _, err := asn1.Unmarshal(a.Values.Bytes, &digest); err != nil {
				return false, err
			}
		case a.Type.Equal(oidContentType):
			if _, err := asn1.Unmarshal(a.Values.Bytes, &contentType); err != nil {
				return false, err
			}
		}
	}
	if !contentType.Equal(sd.EncapContentInfo.ContentType) || !contentType.Equal(oidData) {
		return false, errors.New("content type mismatch")
	}
	sum := sha256.Sum256(content)
	if !bytes.Equal(digest, sum[:]) {
		return false, errors.New("content digest mismatch")
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return false, errors.New("not an RSA key")
	}
	h := sha256.Sum256(signed)
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, h[:], si.Signature); err != nil {
		return false, err
	}
	_, revoked := crl[string(cert.SerialNumber.Bytes())]
	return revoked, nil
}

func verifyMode(args []string) {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	crlPath := fs.String("crl", "", "DER CRL")
	caPath := fs.String("ca", "", "DER CA certificate")
	dir := fs.String("msgs", "", "directory of msg-NNNNN.bin and msg-NNNNN.p7s")
	count := fs.Int("count", 1000, "messages")
	seconds := fs.Float64("seconds", 3, "how long to run")
	fs.Parse(args)

	root := readCA(*caPath)
	rl, err := x509.ParseRevocationList(readFile(*crlPath))
	if err != nil {
		die("ParseRevocationList: %v", err)
	}
	if err := rl.CheckSignatureFrom(root); err != nil {
		die("CRL signature: %v", err)
	}
	crl := index(rl)
	rl = nil
	runtime.GC()
	messages := make([][]byte, *count)
	contents := make([][]byte, *count)
	for i := 0; i < *count; i++ {
		messages[i] = readFile(filepath.Join(*dir, fmt.Sprintf("msg-%05d.p7s", i)))
		contents[i] = readFile(filepath.Join(*dir, fmt.Sprintf("msg-%05d.bin", i)))
	}
	now := time.Now()
	// One untimed pass: every message verifies; count the revoked signers.
	revoked := 0
	for i := range messages {
		r, err := verifyOne(root, crl, messages[i], contents[i], now)
		if err != nil {
			die("message %d: %v", i, err)
		}
		if r {
			revoked++
		}
	}
	limit := time.Duration(*seconds * float64(time.Second))
	start := time.Now()
	done := 0
	for time.Since(start) < limit {
		for j := 0; j < 100; j++ {
			i := done % len(messages)
			if _, err := verifyOne(root, crl, messages[i], contents[i], now); err != nil {
				die("message %d: %v", i, err)
			}
			done++
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("version=%s\n", runtime.Version())
	fmt.Printf("messages=%d\n", len(messages))
	fmt.Printf("revoked=%d\n", revoked)
	fmt.Printf("verifications=%d\n", done)
	fmt.Printf("verify_secs=%f\n", elapsed.Seconds())
}

func main() {
	if len(os.Args) < 2 {
		die("usage: verifybench crl|verify [flags]")
	}
	switch os.Args[1] {
	case "crl":
		crlMode(os.Args[2:])
	case "verify":
		verifyMode(os.Args[2:])
	default:
		die("unknown mode %q", os.Args[1])
	}
}
