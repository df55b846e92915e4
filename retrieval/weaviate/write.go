package weaviate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
	"sync"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/ragway/ragway/retrieval"
	"github.com/ragway/ragway/retrieval/analysis"
)

// objectID is a chunk's UUID: a name-based (version 5 layout) UUID over
// SHA-256 of its file and chunk ids.
func objectID(fileID, chunkID string) string {
	h := sha256.New()
	fmt.Fprintf(h, "ragway chunk\x00%d:%s\x00%s", len(fileID), fileID, chunkID)
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// checkChunks verifies every chunk has an id, a unique one, and a finite
// vector of one size.
func checkChunks(chunks []retrieval.Chunk) (int, error) {
	if len(chunks) == 0 {
		return 0, nil
	}
	dim := len(chunks[0].Vector)
	if dim < 1 || dim > maxDimensions {
		return 0, fmt.Errorf("%w: chunks need vectors of 1 to %d values", retrieval.ErrInvalidQuery, maxDimensions)
	}
	seen := make(map[string]bool, len(chunks))
	for i, ch := range chunks {
		if ch.ID == "" {
			return 0, fmt.Errorf("%w: chunk %d has no id", retrieval.ErrInvalidQuery, i)
		}
		if seen[ch.ID] {
			return 0, fmt.Errorf("%w: chunk id %q appears twice", retrieval.ErrInvalidQuery, ch.ID)
		}
		seen[ch.ID] = true
		if len(ch.Vector) != dim {
			return 0, fmt.Errorf("%w: chunk %d has %d vector values, chunk 0 has %d", retrieval.ErrInvalidQuery, i, len(ch.Vector), dim)
		}
		for _, x := range ch.Vector {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return 0, fmt.Errorf("%w: chunk %d has a vector value that is not finite", retrieval.ErrInvalidQuery, i)
			}
		}
	}
	return dim, nil
}

// fileLock serialises the replaces of one file within this process, so two
// replaces of a file never interleave their insert and delete steps.
func (s *Store) fileLock(class, fileID string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(class + "\x00" + fileID))
	return &s.fileMu[h.Sum32()%uint32(len(s.fileMu))]
}

// ReplaceFile implements retrieval.Store. It is not atomic (see the
// package doc): it imports the new chunks, then deletes the file's others.
func (s *Store) ReplaceFile(ctx context.Context, tenant, collection, fileID string, chunks []retrieval.Chunk) error {
	if tenant == "" || collection == "" || fileID == "" {
		return fmt.Errorf("replace file: %w: tenant, collection and file id are required", retrieval.ErrInvalidQuery)
	}
	dim, err := checkChunks(chunks)
	if err != nil {
		return fmt.Errorf("replace file: %w", err)
	}
	need, err := attrKinds(chunks)
	if err != nil {
		return fmt.Errorf("replace file: %w", err)
	}
	name := className(s.opts.ClassPrefix, tenant, collection)
	mu := s.fileLock(name, fileID)
	mu.Lock()
	defer mu.Unlock()
	ctx, release, err := s.acquire(ctx)
	if err != nil {
		return fmt.Errorf("replace file: %w", err)
	}
	defer release()
	if err := s.replace(ctx, name, classMeta{Tenant: tenant, Collection: collection, Dim: dim}, fileID, chunks, need); err != nil {
		return fmt.Errorf("replace file: %w", err)
	}
	return nil
}

func (s *Store) replace(ctx context.Context, name string, meta classMeta, fileID string, chunks []retrieval.Chunk, need map[string]string) error {
	var c *class
	var err error
	if len(chunks) == 0 {
		if c, err = s.getClass(ctx, name); err != nil || c == nil {
			return err
		}
		return s.deleteFile(ctx, name, fileID, nil)
	}
	if c, err = s.ensureClass(ctx, name, meta); err != nil {
		return err
	}
	if c.meta.Dim != meta.Dim {
		if c, err = s.resize(ctx, c, meta, fileID); err != nil {
			return err
		}
	}
	if err := s.ensureProps(ctx, c, need); err != nil {
		return err
	}
	keep := make(map[string]bool, len(chunks))
	for _, ch := range chunks {
		keep[objectID(fileID, ch.ID)] = true
	}
	if err := s.importChunks(ctx, name, fileID, chunks); err != nil {
		return err
	}
	return s.deleteFile(ctx, name, fileID, keep)
}

// resize recreates the class of a collection for vectors of another size,
// which is allowed only when no other file has chunks in it.
func (s *Store) resize(ctx context.Context, c *class, meta classMeta, fileID string) (*class, error) {
	total, err := s.count(ctx, c.name, nil)
	if err != nil {
		return nil, err
	}
	mine, err := s.count(ctx, c.name, fileFilter(fileID))
	if err != nil {
		return nil, err
	}
	if total > mine {
		return nil, fmt.Errorf("%w: vectors of %d values in a collection of %d", retrieval.ErrInvalidQuery, meta.Dim, c.meta.Dim)
	}
	if err := s.dropClass(ctx, c.name); err != nil {
		return nil, err
	}
	return s.ensureClass(ctx, c.name, meta)
}

// importChunks writes the chunks in batches; any object's failure fails
// the call.
func (s *Store) importChunks(ctx context.Context, name, fileID string, chunks []retrieval.Chunk) error {
	for start := 0; start < len(chunks); start += s.opts.BatchSize {
		end := min(start+s.opts.BatchSize, len(chunks))
		objs := make([]*pb.BatchObject, 0, end-start)
		for _, ch := range chunks[start:end] {
			o, err := toObject(name, fileID, ch)
			if err != nil {
				return err
			}
			objs = append(objs, o)
		}
		reply, err := s.rpc.BatchObjects(ctx, &pb.BatchObjectsRequest{Objects: objs})
		if err != nil {
			return wrap(err)
		}
		if errs := reply.GetErrors(); len(errs) > 0 {
			e := errs[0]
			return fmt.Errorf("import chunk %d of %d failed (%d failures): %s", start+int(e.GetIndex()), len(chunks), len(errs), e.GetError())
		}
	}
	return nil
}

// toObject maps a chunk to its Weaviate object.
func toObject(name, fileID string, ch retrieval.Chunk) (*pb.BatchObject, error) {
	fields := map[string]any{
		propChunkID:  ch.ID,
		propFileID:   fileID,
		propFileKey:  encodeText(fileID),
		propFilename: ch.Filename,
		propIndex:    ch.Index,
		propText:     ch.Text,
		propTerms:    strings.Join(analysis.Terms(ch.Text), " "),
		propTitle:    ch.Title,
		propHeading:  ch.Heading,
		propPage:     ch.Page,
	}
	if len(ch.Attributes) > 0 {
		attrs, err := json.Marshal(ch.Attributes)
		if err != nil {
			return nil, fmt.Errorf("%w: chunk %q attributes: %w", retrieval.ErrInvalidQuery, ch.ID, err)
		}
		fields[propAttrs] = string(attrs)
		for k, v := range ch.Attributes {
			switch x := v.(type) {
			case string:
				fields[attrProp(kindString, k)] = encodeText(x)
			case bool:
				fields[attrProp(kindBool, k)] = x
			default:
				n, _ := retrieval.Number(v)
				fields[attrProp(kindNumber, k)] = n
			}
		}
	}
	props, err := structpb.NewStruct(fields)
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %q: %w", retrieval.ErrInvalidQuery, ch.ID, err)
	}
	return &pb.BatchObject{
		Uuid:        objectID(fileID, ch.ID),
		Collection:  name,
		VectorBytes: vectorBytes(ch.Vector),
		Properties:  &pb.BatchObject_Properties{NonRefProperties: props},
	}, nil
}

func vectorBytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func vectorFromBytes(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// deleteFile deletes the file's objects whose ids keep lacks.
func (s *Store) deleteFile(ctx context.Context, name, fileID string, keep map[string]bool) error {
	var stale []string
	err := s.scanFile(ctx, name, fileID, false, func(r *pb.SearchResult) error {
		if id := r.GetMetadata().GetId(); !keep[id] {
			stale = append(stale, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for start := 0; start < len(stale); start += pageSize {
		ids := stale[start:min(start+pageSize, len(stale))]
		f := and(fileFilter(fileID), &pb.Filters{Operator: pb.Filters_OPERATOR_CONTAINS_ANY, Target: target("_id"),
			TestValue: &pb.Filters_ValueTextArray{ValueTextArray: &pb.TextArray{Values: ids}}})
		reply, err := s.rpc.BatchDelete(ctx, &pb.BatchDeleteRequest{Collection: name, Filters: f})
		if err != nil {
			return wrap(err)
		}
		if reply.GetFailed() > 0 {
			return fmt.Errorf("delete: %d of %d old chunks failed", reply.GetFailed(), len(ids))
		}
	}
	return nil
}

// DeleteCollection implements retrieval.Store: it drops the class.
func (s *Store) DeleteCollection(ctx context.Context, tenant, collection string) error {
	ctx, release, err := s.acquire(ctx)
	if err != nil {
		return fmt.Errorf("delete collection: %w", err)
	}
	defer release()
	if err := s.dropClass(ctx, className(s.opts.ClassPrefix, tenant, collection)); err != nil {
		return fmt.Errorf("delete collection: %w", err)
	}
	return nil
}

func (s *Store) dropClass(ctx context.Context, name string) error {
	err := s.do(ctx, http.MethodDelete, classPath(name), nil, nil)
	s.classes.invalidate(name)
	if err != nil && statusCode(err) != http.StatusNotFound {
		return wrap(err)
	}
	return nil
}
