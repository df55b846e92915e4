package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"sync"
)

// PurposeAssistants is the purpose of files meant for vector stores.
const PurposeAssistants = "assistants"

// File is an uploaded file.
type File struct {
	ID        string `json:"id"`
	Object    string `json:"object"`
	Bytes     int64  `json:"bytes"`
	CreatedAt int64  `json:"created_at"`
	Filename  string `json:"filename"`
	Purpose   string `json:"purpose"`
	Status    string `json:"status"`
}

// Opener opens the content of a file to upload.
type Opener func() (io.ReadCloser, error)

// UploadFile uploads a file named filename with purpose "assistants"
// (POST /v1/files, multipart). The content is streamed from what open
// returns, never held in memory whole, and closed once sent.
//
// open is called once per attempt, so an upload is retried like any
// other request: each retry reads the content again from the start. An
// error from open or from reading the content ends the upload without a
// retry.
func (c *Client) UploadFile(ctx context.Context, filename string, open Opener) (*File, error) {
	if filename == "" {
		return nil, errors.New("upload file: empty file name")
	}
	if open == nil {
		return nil, errors.New("upload file: nil opener")
	}
	body := func() (io.Reader, string, error) {
		src, err := open()
		if err != nil {
			return nil, "", fmt.Errorf("open content: %w", err)
		}
		if src == nil {
			return nil, "", errors.New("open content: opener returned no reader")
		}
		mb, ctype := newMultipartBody(filename, PurposeAssistants, src)
		return mb, ctype, nil
	}
	var f File
	if err := c.do(ctx, call{method: http.MethodPost, path: "/files", body: body}, &f); err != nil {
		return nil, fmt.Errorf("upload file: %w", err)
	}
	if f.ID == "" {
		return nil, errors.New("upload file: response has no id")
	}
	return &f, nil
}

// errBodyClosed ends the writer of a multipart body nobody reads any more.
var errBodyClosed = errors.New("request body closed")

// multipartBody is a multipart/form-data request body written on the fly
// by a goroutine into a pipe. Close stops the goroutine and waits for it,
// so no writer outlives the request.
type multipartBody struct {
	pr   *io.PipeReader
	once sync.Once
	done chan struct{}
	// err is set, before done is closed, when reading the source failed.
	err error
}

// newMultipartBody starts writing the form (purpose, then the file read
// from src) and returns the body and its content type. The body closes
// src when it is done with it.
func newMultipartBody(filename, purpose string, src io.ReadCloser) (*multipartBody, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	b := &multipartBody{pr: pr, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		defer src.Close()
		rr := &recordingReader{r: src}
		err := writeForm(mw, filename, purpose, rr)
		if rr.err != nil {
			b.err = fmt.Errorf("read content: %w", rr.err)
			err = b.err
		}
		// A nil err ends the body with io.EOF.
		pw.CloseWithError(err)
	}()
	return b, mw.FormDataContentType()
}

func writeForm(mw *multipart.Writer, filename, purpose string, src io.Reader) error {
	if err := mw.WriteField("purpose", purpose); err != nil {
		return err
	}
	part, err := mw.CreateFormFile("file", filename)
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, src); err != nil {
		return err
	}
	return mw.Close()
}

func (b *multipartBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

// Close stops the writer and waits for it to return. It may be called
// more than once and from more than one goroutine.
func (b *multipartBody) Close() error {
	b.once.Do(func() { _ = b.pr.CloseWithError(errBodyClosed) })
	<-b.done
	return nil
}

// sourceErr closes the body and returns the error reading the content,
// if any.
func (b *multipartBody) sourceErr() error {
	_ = b.Close()
	return b.err
}

// recordingReader remembers the first error, other than io.EOF, of r.
type recordingReader struct {
	r   io.Reader
	err error
}

func (rr *recordingReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && rr.err == nil {
		rr.err = err
	}
	return n, err
}
