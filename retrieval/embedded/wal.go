package embedded

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// The log is a header followed by records: payload length (uint32 LE),
// CRC-32C of the payload (uint32 LE), payload. A record whose header,
// payload or checksum is incomplete ends the log: it is a write torn by a
// crash, never acknowledged, and is cut off on open.
const (
	logName    = "embedded.log"
	logHeader  = "ragway embedded log v1\n"
	recordHead = 8
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// wal is the append-only log. Appends are ordered by the caller; syncs of
// concurrent writers are merged into one fsync.
type wal struct {
	dir    string
	noSync bool

	mu     sync.Mutex // guards f, size, seq, broken
	f      *os.File
	size   int64
	seq    uint64
	broken error

	syncMu sync.Mutex // guards synced
	synced uint64
}

// openWAL opens or creates the log in dir and replays every intact record.
func openWAL(dir string, noSync bool, replay func(r *record, size int64)) (*wal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, logName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	w := &wal{dir: dir, noSync: noSync, f: f}
	good, err := w.replay(replay)
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := w.cut(good); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// replay reads the log and returns the offset after the last intact record.
func (w *wal) replay(fn func(r *record, size int64)) (int64, error) {
	st, err := w.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat log: %w", err)
	}
	total := st.Size()
	rd := bufio.NewReaderSize(w.f, 1<<20)
	head := make([]byte, len(logHeader))
	if _, err := io.ReadFull(rd, head); err != nil {
		if total < int64(len(logHeader)) {
			return 0, nil // new or torn before the header was written
		}
		return 0, fmt.Errorf("read log: %w", err)
	}
	if string(head) != logHeader {
		return 0, fmt.Errorf("open log: %s is not an embedded store log", filepath.Join(w.dir, logName))
	}
	off := int64(len(logHeader))
	var h [recordHead]byte
	for {
		if _, err := io.ReadFull(rd, h[:]); err != nil {
			return off, nil
		}
		n := int64(binary.LittleEndian.Uint32(h[:4]))
		if n > maxRecordBytes || n > total-off-recordHead {
			return off, nil
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(rd, p); err != nil {
			return off, nil
		}
		if crc32.Checksum(p, crcTable) != binary.LittleEndian.Uint32(h[4:]) {
			return off, nil
		}
		r, err := decodeRecord(p)
		if err != nil {
			return off, nil
		}
		off += recordHead + n
		fn(r, recordHead+n)
	}
}

// cut truncates the log after its last intact record (writing the header
// to a new log) and positions it for appends.
func (w *wal) cut(good int64) error {
	if good == 0 {
		if err := w.f.Truncate(0); err != nil {
			return fmt.Errorf("truncate log: %w", err)
		}
		if _, err := w.f.WriteAt([]byte(logHeader), 0); err != nil {
			return fmt.Errorf("write log: %w", err)
		}
		good = int64(len(logHeader))
	} else if err := w.f.Truncate(good); err != nil {
		return fmt.Errorf("truncate log: %w", err)
	}
	if _, err := w.f.Seek(good, io.SeekStart); err != nil {
		return fmt.Errorf("seek log: %w", err)
	}
	w.size = good
	if err := w.fsync(); err != nil {
		return err
	}
	return syncDir(w.dir)
}

func (w *wal) fsync() error {
	if w.noSync {
		return nil
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	return nil
}

// frame returns the record framed for the log.
func frame(r *record) ([]byte, error) {
	b, err := r.encode(make([]byte, recordHead, 256))
	if err != nil {
		return nil, err
	}
	if len(b)-recordHead > maxRecordBytes {
		return nil, errors.New("record too large")
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)-recordHead))
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[recordHead:], crcTable))
	return b, nil
}

// append writes a framed record and returns its sequence number for sync.
// A failed write is cut off so later records stay readable.
func (w *wal) append(b []byte) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken != nil {
		return 0, w.broken
	}
	if _, err := w.f.Write(b); err != nil {
		if terr := w.f.Truncate(w.size); terr != nil {
			w.broken = fmt.Errorf("log unusable after failed write: %w", terr)
		} else if _, serr := w.f.Seek(w.size, io.SeekStart); serr != nil {
			w.broken = fmt.Errorf("log unusable after failed write: %w", serr)
		}
		return 0, fmt.Errorf("write log: %w", err)
	}
	w.size += int64(len(b))
	w.seq++
	return w.seq, nil
}

// sync makes every record up to seq durable, sharing one fsync among the
// writers waiting at the same time.
func (w *wal) sync(seq uint64) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.synced >= seq {
		return nil
	}
	w.mu.Lock()
	target := w.seq
	w.mu.Unlock()
	if err := w.fsync(); err != nil {
		return err
	}
	w.synced = target
	return nil
}

// rewrite replaces the log with one holding only the given records,
// atomically: a crash leaves either the old log or the new one.
func (w *wal) rewrite(records func(yield func(*record) error) error) error {
	tmp := filepath.Join(w.dir, logName+".tmp")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("rewrite log: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	size := int64(len(logHeader))
	_, _ = bw.WriteString(logHeader)
	err = records(func(r *record) error {
		b, err := frame(r)
		if err != nil {
			return err
		}
		size += int64(len(b))
		_, err = bw.Write(b)
		return err
	})
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && !w.noSync {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(w.dir, logName))
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("rewrite log: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	w.mu.Lock()
	old := w.f
	w.f, w.size = f, size
	w.mu.Unlock()
	return old.Close()
}

func (w *wal) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.fsync()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close log: %w", cerr)
	}
	w.broken = errors.New("log closed")
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync data dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync data dir: %w", err)
	}
	return nil
}
