package cdc

import "io"

// DefaultReaderBytes is the buffer size NewReader uses, unless Max is
// larger: then it uses 2*Max. Large enough that moving the undecided tail
// of the buffer to its front (less than Max bytes, once per refill) costs
// little next to chunking the rest.
const DefaultReaderBytes = 4 << 20

// Reader splits a stream into content-defined chunks: the same chunks as
// calling Cut repeatedly on the whole stream, however the underlying reader
// splits its reads. A Reader is not safe for concurrent use.
type Reader struct {
	r   io.Reader
	c   *Chunker
	buf []byte
	// buf[start:end] holds bytes read and not yet returned.
	start, end int
	// err is the first error from r (io.EOF at the end of the stream).
	err error
}

// NewReader returns a Reader that chunks r with c, reading into a buffer of
// max(DefaultReaderBytes, 2*Max) bytes. It does not close r.
func NewReader(r io.Reader, c *Chunker) *Reader {
	return NewReaderSize(r, c, DefaultReaderBytes)
}

// NewReaderSize is NewReader with a buffer of size bytes, raised to 2*Max
// if it is smaller.
func NewReaderSize(r io.Reader, c *Chunker, size int) *Reader {
	return &Reader{r: r, c: c, buf: make([]byte, max(size, 2*c.max))}
}

// Reset discards the Reader's state and makes it chunk rd, keeping its
// Chunker and buffer. Chunks returned before are no longer valid.
func (r *Reader) Reset(rd io.Reader) {
	*r = Reader{r: rd, c: r.c, buf: r.buf}
}

// Next returns the next chunk: a slice of the Reader's buffer, valid until
// the next call to Next or Reset. At the end of the stream it returns nil
// and io.EOF. If the underlying reader fails, Next returns the chunks that
// the bytes read before the failure decide and then nil and that error (a
// reader returning io.ErrUnexpectedEOF, for one, ends the stream with it).
// After an error, Next keeps returning it.
func (r *Reader) Next() ([]byte, error) {
	if r.end-r.start < r.c.max && r.err == nil {
		r.fill()
	}
	avail := r.buf[r.start:r.end]
	if len(avail) == 0 {
		return nil, r.err
	}
	n := r.c.Cut(avail)
	// A boundary Cut found before the end of what is buffered is final,
	// and so is any cut once Max bytes are buffered or the stream ended.
	// Otherwise the next bytes, which the failed reader did not deliver,
	// could have moved it.
	if n == len(avail) && n < r.c.max && r.err != io.EOF {
		return nil, r.err
	}
	r.start += n
	return avail[:n:n], nil
}

// fill reads until at least Max bytes are buffered or the reader fails.
// It moves the buffered bytes to the front of the buffer only when fewer
// than Max bytes are free behind them, so most refills copy nothing.
func (r *Reader) fill() {
	if len(r.buf)-r.start < r.c.max {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	for empty := 0; r.end-r.start < r.c.max; {
		n, err := r.r.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			r.err = ErrInvalidRead
			return
		}
		r.end += n
		if err != nil {
			r.err = err
			return
		}
		if n > 0 {
			empty = 0
		} else if empty++; empty == maxEmptyReads {
			r.err = io.ErrNoProgress
			return
		}
	}
}

// maxEmptyReads is how many reads in a row may return no bytes and no
// error before Next gives up with io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100
