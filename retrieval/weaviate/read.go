package weaviate

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"

	"github.com/ragway/ragway/retrieval"
)

// Collections lists the collections holding chunks: the prefix's classes
// with at least one object.
func (s *Store) Collections(ctx context.Context) ([]retrieval.CollectionRef, error) {
	ctx, release, err := s.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	defer release()
	classes, err := s.restClasses(ctx)
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", wrap(err))
	}
	out := []retrieval.CollectionRef{}
	for _, mc := range classes {
		if mc == nil || !isClassName(s.opts.ClassPrefix, mc.Class) {
			continue
		}
		c, err := parseClass(mc)
		if err != nil || className(s.opts.ClassPrefix, c.meta.Tenant, c.meta.Collection) != c.name {
			continue // not one of ours
		}
		n, err := s.count(ctx, c.name, nil)
		if err != nil {
			return nil, fmt.Errorf("list collections: %w", err)
		}
		if n > 0 {
			out = append(out, retrieval.CollectionRef{Tenant: c.meta.Tenant, Collection: c.meta.Collection})
		}
	}
	retrieval.SortCollections(out)
	return out, nil
}

// Files lists the collection's files and their chunk counts, by an
// aggregation grouped by file.
func (s *Store) Files(ctx context.Context, tenant, collection string) ([]retrieval.FileInfo, error) {
	ctx, release, err := s.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	defer release()
	name := className(s.opts.ClassPrefix, tenant, collection)
	c, err := s.getClass(ctx, name)
	if err != nil || c == nil {
		return nil, wrapf("list files", err)
	}
	limit := uint32(math.MaxInt32)
	reply, err := s.rpc.Aggregate(ctx, &pb.AggregateRequest{
		Collection: name, ObjectsCount: true, Limit: &limit,
		GroupBy: &pb.AggregateRequest_GroupBy{Collection: name, Property: propFileKey},
	})
	if err != nil {
		return nil, fmt.Errorf("list files: %w", wrap(err))
	}
	out := []retrieval.FileInfo{}
	for _, g := range reply.GetGroupedResults().GetGroups() {
		id, err := decodeText(g.GetGroupedBy().GetText())
		if err != nil {
			return nil, fmt.Errorf("list files: %w", err)
		}
		if n := g.GetObjectsCount(); n > 0 {
			out = append(out, retrieval.FileInfo{ID: id, Chunks: int(n)})
		}
	}
	retrieval.SortFiles(out)
	return out, nil
}

// FileChunks returns one file's chunks in index order, vectors included.
func (s *Store) FileChunks(ctx context.Context, tenant, collection, fileID string) ([]retrieval.Chunk, error) {
	ctx, release, err := s.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("read file: %w", err)
	}
	defer release()
	name := className(s.opts.ClassPrefix, tenant, collection)
	c, err := s.getClass(ctx, name)
	if err != nil || c == nil {
		return nil, wrapf("read file", err)
	}
	var out []retrieval.Chunk
	err = s.scanFile(ctx, name, fileID, true, func(r *pb.SearchResult) error {
		ch, err := toChunk(r)
		if err != nil {
			return err
		}
		ch.Tenant, ch.Collection = tenant, collection
		ch.Vector = resultVector(r.GetMetadata())
		out = append(out, ch)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read file: %w", err)
	}
	return out, nil
}

func wrapf(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// scanFile calls fn for each of the file's objects in index order, a page
// at a time: each page asks for the indexes from the last one seen, and
// objects already seen are skipped, so no offset limit applies.
func (s *Store) scanFile(ctx context.Context, name, fileID string, full bool, fn func(*pb.SearchResult) error) error {
	seen := map[string]bool{}
	var from *pb.Filters
	for {
		req := &pb.SearchRequest{
			Collection: name, Limit: pageSize,
			Filters:     and(fileFilter(fileID), from),
			SortBy:      []*pb.SortBy{{Ascending: true, Path: []string{propIndex}}},
			Metadata:    &pb.MetadataRequest{Uuid: true, Vector: full},
			Properties:  &pb.PropertiesRequest{NonRefProperties: []string{propIndex}},
			Uses_127Api: true,
		}
		if full {
			req.Properties.NonRefProperties = chunkProps
		}
		reply, err := s.rpc.Search(ctx, req)
		if err != nil {
			return wrap(err)
		}
		res := reply.GetResults()
		added := 0
		for _, r := range res {
			id := r.GetMetadata().GetId()
			if seen[id] {
				continue
			}
			seen[id] = true
			added++
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(res) < pageSize {
			return nil
		}
		if added == 0 {
			return fmt.Errorf("more than %d chunks of file share one index", pageSize)
		}
		last := propInt(res[len(res)-1].GetProperties().GetNonRefProps(), propIndex)
		from = &pb.Filters{Operator: pb.Filters_OPERATOR_GREATER_THAN_EQUAL, Target: target(propIndex),
			TestValue: &pb.Filters_ValueInt{ValueInt: last}}
	}
}

// count is the number of the class's objects matching f (nil: all).
func (s *Store) count(ctx context.Context, name string, f *pb.Filters) (int64, error) {
	reply, err := s.rpc.Aggregate(ctx, &pb.AggregateRequest{Collection: name, ObjectsCount: true, Filters: f})
	if err != nil {
		return 0, wrap(err)
	}
	return reply.GetSingleResult().GetObjectsCount(), nil
}

// toChunk maps a result's properties back to a chunk.
func toChunk(r *pb.SearchResult) (retrieval.Chunk, error) {
	p := r.GetProperties().GetNonRefProps()
	ch := retrieval.Chunk{
		ID:       propString(p, propChunkID),
		FileID:   propString(p, propFileID),
		Filename: propString(p, propFilename),
		Index:    int(propInt(p, propIndex)),
		Text:     propString(p, propText),
		Title:    propString(p, propTitle),
		Heading:  propString(p, propHeading),
		Page:     int(propInt(p, propPage)),
	}
	if a := propString(p, propAttrs); a != "" {
		d := json.NewDecoder(strings.NewReader(a))
		if err := d.Decode(&ch.Attributes); err != nil {
			return ch, fmt.Errorf("chunk %q has bad attributes: %w", ch.ID, err)
		}
	}
	return ch, nil
}

// propString is a text property; the server sends text and string
// properties as text values.
func propString(p *pb.Properties, name string) string {
	return p.GetFields()[name].GetTextValue()
}

func propInt(p *pb.Properties, name string) int64 {
	v := p.GetFields()[name]
	if _, ok := v.GetKind().(*pb.Value_NumberValue); ok {
		return int64(v.GetNumberValue())
	}
	return v.GetIntValue()
}

// resultVector is the object's vector: the default vector's bytes, else
// the first named vector's.
func resultVector(m *pb.MetadataResult) []float32 {
	if b := m.GetVectorBytes(); len(b) > 0 {
		return vectorFromBytes(b)
	}
	for _, v := range m.GetVectors() {
		if len(v.GetVectorBytes()) > 0 {
			return vectorFromBytes(v.GetVectorBytes())
		}
	}
	return nil
}
