package snapshot

import (
	"errors"
	"io"
	"sync"
)

// ErrPartEnd is what a PartReader's Read returns where a part of the
// stream ends (never with data). Save cuts a chunk there, so each part
// is chunked as if it were a stream of its own: a part that did not
// change stores nothing new, whatever changed in the parts around it (a
// tenant's state among thousands).
var ErrPartEnd = errors.New("snapshot: end of a part of the stream")

// Pipe is io.Pipe for a state written in parts: the writer's EndPart
// marks where a part ends, and the reader, given to Save, returns
// ErrPartEnd there. A writer that never calls EndPart makes an ordinary
// stream.
func Pipe() (*PartReader, *PartWriter) {
	p := &partPipe{ch: make(chan []byte), done: make(chan struct{})}
	return &PartReader{p: p}, &PartWriter{p: p}
}

// partPipe carries writes (copied) and part ends (nil) in order.
type partPipe struct {
	ch   chan []byte
	done chan struct{} // closed when either side closes

	once sync.Once
	mu   sync.Mutex
	rerr error // what the reader gets once the writer closed
	werr error // what the writer gets once the reader closed
}

func (p *partPipe) close(rerr, werr error) {
	p.once.Do(func() {
		p.mu.Lock()
		p.rerr, p.werr = rerr, werr
		p.mu.Unlock()
		close(p.done)
	})
}

func (p *partPipe) send(b []byte) error {
	select {
	case p.ch <- b:
		return nil
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.werr
	}
}

// PartWriter is the writing half of Pipe.
type PartWriter struct{ p *partPipe }

// Write sends b (copied) to the reader, blocking until it is taken.
func (w *PartWriter) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if err := w.p.send(append([]byte(nil), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// EndPart marks the end of a part.
func (w *PartWriter) EndPart() error { return w.p.send(nil) }

// CloseWithError closes the pipe: the reader gets err (io.EOF if nil)
// after what was written.
func (w *PartWriter) CloseWithError(err error) error {
	if err == nil {
		err = io.EOF
	}
	w.p.close(err, io.ErrClosedPipe)
	return nil
}

// PartReader is the reading half of Pipe.
type PartReader struct {
	p    *partPipe
	left []byte
}

// Read reads what the writer wrote; at the end of a part it returns
// (0, ErrPartEnd).
func (r *PartReader) Read(b []byte) (int, error) {
	if len(r.left) == 0 {
		select {
		case m := <-r.p.ch:
			if m == nil {
				return 0, ErrPartEnd
			}
			r.left = m
		case <-r.p.done: // every write before the close was taken: ch is unbuffered
			r.p.mu.Lock()
			defer r.p.mu.Unlock()
			return 0, r.p.rerr
		}
	}
	n := copy(b, r.left)
	r.left = r.left[n:]
	return n, nil
}

// CloseWithError closes the pipe from the reading side: the writer's
// next Write fails with err (io.ErrClosedPipe if nil).
func (r *PartReader) CloseWithError(err error) error {
	if err == nil {
		err = io.ErrClosedPipe
	}
	r.p.close(io.EOF, err)
	return nil
}
