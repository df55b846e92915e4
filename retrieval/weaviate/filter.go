package weaviate

import (
	"fmt"
	"math"

	pb "github.com/weaviate/weaviate/grpc/generated/protocol/v1"

	"github.com/ragway/ragway/retrieval"
)

// Filters become Weaviate gRPC filters over the typed attribute properties
// (see the package doc). Keys only ever choose a property by their hash and
// values travel as typed protobuf fields, so neither can change the shape
// of a request. A comparison on a property the class lacks is false; the
// tree is folded so that a filter which can match nothing is never sent.

var pbOps = map[string]pb.Filters_Operator{
	"eq":  pb.Filters_OPERATOR_EQUAL,
	"gt":  pb.Filters_OPERATOR_GREATER_THAN,
	"gte": pb.Filters_OPERATOR_GREATER_THAN_EQUAL,
	"lt":  pb.Filters_OPERATOR_LESS_THAN,
	"lte": pb.Filters_OPERATOR_LESS_THAN_EQUAL,
}

// translate turns f into a Weaviate filter for a class with props (name ->
// data type). none reports a filter that matches nothing; a nil filter
// with none false matches everything.
func translate(f *retrieval.Filter, props map[string]string) (out *pb.Filters, none bool, err error) {
	if f == nil {
		return nil, false, nil
	}
	switch f.Type {
	case "and", "or":
		return translateCompound(f, props)
	case "eq", "ne", "gt", "gte", "lt", "lte":
	default:
		return nil, false, fmt.Errorf("%w: unknown filter type %q", retrieval.ErrInvalidQuery, f.Type)
	}
	var prop, typ string
	var val func(op pb.Filters_Operator) *pb.Filters
	switch v := f.Value.(type) {
	case string:
		prop, typ = attrProp(kindString, f.Key), "text"
		enc := encodeText(v)
		val = func(op pb.Filters_Operator) *pb.Filters {
			return &pb.Filters{Operator: op, Target: target(prop), TestValue: &pb.Filters_ValueText{ValueText: enc}}
		}
	case bool:
		if f.Type != "eq" && f.Type != "ne" {
			return nil, false, fmt.Errorf("%w: %s cannot compare booleans", retrieval.ErrInvalidQuery, f.Type)
		}
		prop, typ = attrProp(kindBool, f.Key), "boolean"
		want := v == (f.Type == "eq") // ne true is eq false: a missing key never matches
		if _, ok := props[prop]; !ok {
			return nil, true, nil
		}
		return &pb.Filters{Operator: pb.Filters_OPERATOR_EQUAL, Target: target(prop),
			TestValue: &pb.Filters_ValueBoolean{ValueBoolean: want}}, false, nil
	default:
		n, ok := retrieval.Number(v)
		if !ok {
			return nil, false, fmt.Errorf("%w: filter value for %q must be a string, number or boolean", retrieval.ErrInvalidQuery, f.Key)
		}
		if math.IsNaN(n) {
			return nil, true, nil
		}
		prop, typ = attrProp(kindNumber, f.Key), "number"
		val = func(op pb.Filters_Operator) *pb.Filters {
			return &pb.Filters{Operator: op, Target: target(prop), TestValue: &pb.Filters_ValueNumber{ValueNumber: n}}
		}
	}
	if props[prop] != typ {
		return nil, true, nil
	}
	if f.Type == "ne" {
		// NotEqual would match chunks without the key.
		return &pb.Filters{Operator: pb.Filters_OPERATOR_OR, Filters: []*pb.Filters{
			val(pb.Filters_OPERATOR_LESS_THAN), val(pb.Filters_OPERATOR_GREATER_THAN),
		}}, false, nil
	}
	return val(pbOps[f.Type]), false, nil
}

func translateCompound(f *retrieval.Filter, props map[string]string) (*pb.Filters, bool, error) {
	if len(f.Filters) == 0 {
		return nil, false, fmt.Errorf("%w: filter %s needs filters", retrieval.ErrInvalidQuery, f.Type)
	}
	var kids []*pb.Filters
	for _, c := range f.Filters {
		k, none, err := translate(c, props)
		if err != nil {
			return nil, false, err
		}
		switch {
		case none && f.Type == "and":
			return nil, true, nil
		case none:
			continue
		case k == nil && f.Type == "or":
			return nil, false, nil // matches everything
		case k == nil:
			continue
		}
		kids = append(kids, k)
	}
	switch {
	case len(kids) == 0 && f.Type == "or":
		return nil, true, nil
	case len(kids) == 0:
		return nil, false, nil
	case len(kids) == 1:
		return kids[0], false, nil
	}
	op := pb.Filters_OPERATOR_AND
	if f.Type == "or" {
		op = pb.Filters_OPERATOR_OR
	}
	return &pb.Filters{Operator: op, Filters: kids}, false, nil
}

func target(prop string) *pb.FilterTarget {
	return &pb.FilterTarget{Target: &pb.FilterTarget_Property{Property: prop}}
}

// and combines filters, any of which may be nil.
func and(fs ...*pb.Filters) *pb.Filters {
	var kids []*pb.Filters
	for _, f := range fs {
		if f != nil {
			kids = append(kids, f)
		}
	}
	switch len(kids) {
	case 0:
		return nil
	case 1:
		return kids[0]
	}
	return &pb.Filters{Operator: pb.Filters_OPERATOR_AND, Filters: kids}
}

// fileFilter selects one file's objects.
func fileFilter(fileID string) *pb.Filters {
	return &pb.Filters{Operator: pb.Filters_OPERATOR_EQUAL, Target: target(propFileKey),
		TestValue: &pb.Filters_ValueText{ValueText: encodeText(fileID)}}
}
