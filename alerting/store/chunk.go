package store

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
)

// A series' full chunks are kept back to back in one byte slice, each
// after its length as a uvarint: one allocation of the exact size and one
// slice header per series rather than per chunk. The slice is never
// modified: sealing a chunk or dropping old ones makes a new one, so a
// query can keep reading the slice it took.

// appendSealed returns a new slice of the sealed chunks and c.
func appendSealed(sealed, c []byte) []byte {
	var pre [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(pre[:], uint64(len(c)))
	out := make([]byte, 0, len(sealed)+k+len(c))
	return append(append(append(out, sealed...), pre[:k]...), c...)
}

// splitSealed appends the sealed chunks to dst.
func splitSealed(sealed []byte, dst [][]byte) [][]byte {
	for len(sealed) > 0 {
		n, k := binary.Uvarint(sealed)
		if k <= 0 || uint64(len(sealed)-k) < n {
			return dst // corrupt; cannot happen as the store writes them
		}
		dst = append(dst, sealed[k:k+int(n)])
		sealed = sealed[k+int(n):]
	}
	return dst
}

// A chunk holds up to chunkSamples float samples, Gorilla-compressed as in
// Facebook's paper and Prometheus's XOR chunks: two bytes of sample count,
// the first timestamp as a varint and its value in 64 bits, the second
// timestamp as a delta, then delta-of-deltas in 1 to 68 bits and values
// XORed with the previous one in 1 to 77 bits. A chunk is just its bytes,
// so a full one costs its length and a slice header.
const chunkSamples = 120

const chunkHeader = 2 // the sample count, big endian

// bitWriter appends bits to a byte slice.
type bitWriter struct {
	b    []byte
	free uint8 // bits still free in the last byte
}

func (w *bitWriter) writeBit(bit bool) {
	if w.free == 0 {
		w.b = append(w.b, 0)
		w.free = 8
	}
	w.free--
	if bit {
		w.b[len(w.b)-1] |= 1 << w.free
	}
}

// writeBits writes the low n bits of u, most significant first.
func (w *bitWriter) writeBits(u uint64, n int) {
	for n > 0 {
		if w.free == 0 {
			w.b = append(w.b, 0)
			w.free = 8
		}
		take := min(int(w.free), n)
		chunk := byte(u>>(n-take)) & (0xff >> (8 - take))
		w.free -= uint8(take)
		w.b[len(w.b)-1] |= chunk << w.free
		n -= take
	}
}

// writeBytes appends whole bytes, which must start on a byte boundary.
func (w *bitWriter) writeBytes(p []byte) {
	w.b = append(w.b, p...)
	w.free = 0
}

// xorAppender appends samples to one chunk. It keeps what encoding the
// next sample needs: the previous timestamp, its delta, the previous value
// and the previous XOR's leading and trailing zeros.
type xorAppender struct {
	w        bitWriter
	t        int64
	tDelta   int64
	v        float64
	leading  uint8 // 0xff before the first XOR with a window
	trailing uint8
}

func newXORAppender() *xorAppender {
	a := &xorAppender{leading: 0xff}
	a.w.b = make([]byte, chunkHeader, 32)
	return a
}

func (a *xorAppender) num() int { return int(binary.BigEndian.Uint16(a.w.b)) }

func (a *xorAppender) append(t int64, v float64) {
	n := a.num()
	switch n {
	case 0:
		var buf [binary.MaxVarintLen64]byte
		a.w.writeBytes(buf[:binary.PutVarint(buf[:], t)])
		a.w.writeBits(math.Float64bits(v), 64)
	case 1:
		var buf [binary.MaxVarintLen64]byte
		a.tDelta = t - a.t
		for _, b := range buf[:binary.PutUvarint(buf[:], uint64(a.tDelta))] {
			a.w.writeBits(uint64(b), 8)
		}
		a.writeValue(v)
	default:
		delta := t - a.t
		a.writeDoD(delta - a.tDelta)
		a.tDelta = delta
		a.writeValue(v)
	}
	a.t, a.v = t, v
	binary.BigEndian.PutUint16(a.w.b, uint16(n+1))
}

// The delta-of-delta classes: a prefix of ones ended by a zero, then a
// signed value in the class's width; 0b1111 is followed by all 64 bits.
var dodClasses = [...]struct {
	prefix uint64
	plen   int
	width  int
}{{0b10, 2, 14}, {0b110, 3, 17}, {0b1110, 4, 20}}

func (a *xorAppender) writeDoD(dod int64) {
	if dod == 0 {
		a.w.writeBit(false)
		return
	}
	for _, c := range dodClasses {
		if fitsBits(dod, c.width) {
			a.w.writeBits(c.prefix, c.plen)
			a.w.writeBits(uint64(dod), c.width)
			return
		}
	}
	a.w.writeBits(0b1111, 4)
	a.w.writeBits(uint64(dod), 64)
}

// fitsBits reports whether x is in [-2^(n-1)+1, 2^(n-1)], the range
// readSigned decodes from n bits.
func fitsBits(x int64, n int) bool {
	return -(int64(1)<<(n-1))+1 <= x && x <= int64(1)<<(n-1)
}

func (a *xorAppender) writeValue(v float64) {
	x := math.Float64bits(v) ^ math.Float64bits(a.v)
	if x == 0 {
		a.w.writeBit(false)
		return
	}
	a.w.writeBit(true)
	leading, trailing := uint8(bits.LeadingZeros64(x)), uint8(bits.TrailingZeros64(x))
	leading = min(leading, 31) // it has five bits
	if a.leading != 0xff && leading >= a.leading && trailing >= a.trailing {
		// Fits the previous window: reuse it.
		a.w.writeBit(false)
		a.w.writeBits(x>>a.trailing, 64-int(a.leading)-int(a.trailing))
		return
	}
	a.leading, a.trailing = leading, trailing
	a.w.writeBit(true)
	a.w.writeBits(uint64(leading), 5)
	sig := 64 - int(leading) - int(trailing)
	a.w.writeBits(uint64(sig), 6) // 64 wraps to 0; there is always a set bit
	a.w.writeBits(x>>trailing, sig)
}

// resetChunk starts a new chunk in a new buffer of capacity size, once
// the full one has been copied out. The previous timestamp stays in t.
func (a *xorAppender) resetChunk(size int) {
	a.w.b = make([]byte, chunkHeader, max(size, chunkHeader))
	a.w.free = 0
	a.leading, a.trailing = 0xff, 0
}

// bytes are the chunk as it stands; the appender keeps writing to them.
func (a *xorAppender) bytes() []byte { return a.w.b }

// chunkMinTime is the first timestamp of a chunk of at least one sample.
func chunkMinTime(c []byte) int64 {
	t, _ := binary.Varint(c[chunkHeader:])
	return t
}

func chunkLen(c []byte) int { return int(binary.BigEndian.Uint16(c)) }

var errCorruptChunk = errors.New("store: corrupt chunk")

// xorIterator decodes one chunk.
type xorIterator struct {
	b        []byte
	pos      uint // bit position
	n, i     int  // samples in the chunk, samples read
	t        int64
	tDelta   int64
	v        float64
	leading  uint8
	trailing uint8
	err      error
}

func (it *xorIterator) reset(c []byte) {
	*it = xorIterator{b: c, pos: chunkHeader * 8, n: chunkLen(c)}
}

func (it *xorIterator) readBits(n int) uint64 {
	var u uint64
	for n > 0 {
		i := it.pos >> 3
		if int(i) >= len(it.b) {
			it.err = errCorruptChunk
			return 0
		}
		off := int(it.pos & 7)
		take := min(8-off, n)
		u = u<<take | uint64(it.b[i]>>(8-off-take))&(1<<take-1)
		n -= take
		it.pos += uint(take)
	}
	return u
}

func (it *xorIterator) readBit() bool { return it.readBits(1) == 1 }

func (it *xorIterator) next() bool {
	if it.err != nil || it.i >= it.n {
		return false
	}
	switch it.i {
	case 0:
		t, k := binary.Varint(it.b[it.pos>>3:])
		if k <= 0 {
			it.err = errCorruptChunk
			return false
		}
		it.pos += uint(k) * 8
		it.t = t
		it.v = math.Float64frombits(it.readBits(64))
	case 1:
		// The uvarint was written bit-aligned with the value bits after
		// the first sample, so read it byte by byte through readBits.
		var d uint64
		for shift := 0; ; shift += 7 {
			b := it.readBits(8)
			if it.err != nil || shift > 63 {
				it.err = errCorruptChunk
				return false
			}
			d |= (b & 0x7f) << shift
			if b < 0x80 {
				break
			}
		}
		it.tDelta = int64(d)
		it.t += it.tDelta
		it.readValue()
	default:
		it.tDelta += it.readDoD()
		it.t += it.tDelta
		it.readValue()
	}
	it.i++
	return it.err == nil
}

func (it *xorIterator) readDoD() int64 {
	if !it.readBit() {
		return 0
	}
	for _, c := range dodClasses {
		if !it.readBit() {
			return readSigned(it.readBits(c.width), c.width)
		}
	}
	return int64(it.readBits(64))
}

// readSigned undoes the two's complement truncation of writeBits.
func readSigned(u uint64, n int) int64 {
	if u > 1<<(n-1) {
		return int64(u) - 1<<n
	}
	return int64(u)
}

func (it *xorIterator) readValue() {
	if !it.readBit() {
		return // same value
	}
	if it.readBit() {
		it.leading = uint8(it.readBits(5))
		sig := uint8(it.readBits(6))
		if sig == 0 {
			sig = 64
		}
		it.trailing = 64 - it.leading - sig
	}
	sig := 64 - int(it.leading) - int(it.trailing)
	x := it.readBits(sig) << it.trailing
	it.v = math.Float64frombits(math.Float64bits(it.v) ^ x)
}
