// Package milvus is a retrieval.Store kept in Milvus (2.4 and later; full
// text search needs 2.5), through the official Go client
// (github.com/milvus-io/milvus/client/v2).
//
// # Mapping
//
// Each (tenant, collection) is one Milvus collection, named
// <prefix>_<tenant>_<collection>_<hash>: the prefix (default "ragway"),
// the ASCII letters and digits of each name (lowercased, at most 24), and
// 128 bits of SHA-256 over both names, length-prefixed, so distinct pairs
// get distinct names whatever they contain. The collection's description
// records the pair, which is how Collections lists them back.
//
// One collection per pair, rather than one shared collection with a
// partition key on the tenant, because a collection's vector size is
// fixed by its schema and each retrieval collection has its own embedder;
// because DeleteCollection is then one drop instead of a delete by
// expression that leaves tombstones to compact; and because no query can
// reach another tenant's rows by a filter mistake. The cost is Milvus's
// per-collection overhead (each is loaded in memory, and a server caps
// their number, 65,536 by default): deployments with many small tenants
// may prefer pgvector.
//
// A row is one chunk: pk (VarChar, a hash of the file and chunk ids, so
// any chunk id is safe and keys are plain hex in expressions), chunk_id,
// tenant, collection, file_id, filename, idx, text, title, heading, page,
// attributes (JSON), vector (FloatVector of the first write's size, HNSW
// index, COSINE metric) and, on servers with BM25, sparse: the output of a
// BM25 function over text (analyzer "english" by default), under a sparse
// inverted index with the BM25 metric. file_id has an inverted index.
// Collections are created, indexed and loaded on first write. A write of
// another vector size recreates the collection when the file being
// written is its only one, and is refused otherwise.
//
// # Writes and consistency
//
// Milvus has no transactions, so ReplaceFile is not atomic: it upserts the
// new chunks, then deletes the file's chunks that are not among them. A
// search meanwhile may see both versions of the file, never neither; once
// ReplaceFile returns only the new one is visible. Replaces of one file
// are serialised within a Store, not across processes. Reads use the
// consistency level of Options.Consistency, strong by default, so a
// search sees every write that returned before it began; bounded or
// eventually trade that for latency.
//
// # Search
//
// Vector search scores by cosine similarity. Lexical search is a search of
// the BM25 sparse field with the query text, returning only chunks sharing
// a term. Hybrid search, by default, is the server's hybrid search over
// both with its RRF ranker (k=60); with Fusion "weighted" the two lists are
// fetched and combined by retrieval.FuseWeighted. Open asks the server its
// version once: from 2.5 on it uses BM25 and expression templates; on 2.4
// collections have no sparse field, lexical search fails with
// retrieval.ErrInvalidQuery and hybrid search is the vector list (through
// retrieval.FuseRRF). Options.ServerVersion skips the probe.
//
// Filters become expressions over the attributes field,
// attributes["key"] == value, with values bound as template parameters on
// 2.5+ and escaped literals before; keys Milvus cannot address (with
// quotes, backslashes, control characters or "][") are refused with
// retrieval.ErrInvalidQuery. Semantics are retrieval.Filter.Match's: a
// comparison on a missing key or a value of another kind is false, ne
// included (written as a < v or a > v, since Milvus's != is true on a
// missing key).
//
// # Errors and limits
//
// Transport failures, timeouts and a busy server are
// retrieval.ErrUnavailable; requests the server refuses as invalid are
// retrieval.ErrInvalidQuery. At most Options.MaxConcurrency calls are in
// flight; a call waits Options.AcquireTimeout for a slot and then fails
// with retrieval.ErrUnavailable. Each call is bounded by
// Options.RequestTimeout. Passwords and tokens are llm.Secret and never
// printed.
//
// # Testing
//
// The unit tests need no server: schema, names, expressions (with an
// evaluator of the emitted expressions checked against Filter.Match),
// result mapping. The conformance suite runs against a live server when
// MILVUS_ADDR is set (e.g. Milvus standalone 2.5 or 2.6 on
// localhost:19530) and is skipped otherwise; this store has not yet been
// run against a live server.
package milvus
