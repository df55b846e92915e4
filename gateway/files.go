package gateway

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// uploadMemory is how much of a multipart upload is held in memory; the
// rest spills to a temporary file.
const uploadMemory = 8 << 20

// handleFileUpload serves POST /v1/files (multipart: file, purpose).
func (s *Server) handleFileUpload(c *gin.Context) {
	r := c.Request
	if r.ContentLength > s.ingest.maxUpload {
		s.fail(c, &http.MaxBytesError{Limit: s.ingest.maxUpload})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		s.fail(c, invalid("file", "Uploads must be multipart/form-data with the fields file and purpose."))
		return
	}
	r.Body = http.MaxBytesReader(c.Writer, r.Body, s.ingest.maxUpload)
	if err := r.ParseMultipartForm(uploadMemory); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(c, err)
			return
		}
		s.fail(c, invalid("file", "We could not parse the multipart body of your request."))
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	purpose := r.FormValue("purpose")
	if purpose == "" {
		s.fail(c, invalid("purpose", "Missing required parameter: 'purpose'."))
		return
	}
	fh, err := formFile(r.MultipartForm)
	if err != nil {
		s.fail(c, err)
		return
	}
	f, err := fh.Open()
	if err != nil {
		s.fail(c, fmt.Errorf("open upload: %w", err))
		return
	}
	defer f.Close()
	file, err := s.ingest.svc.Upload(r.Context(), tenantOf(c), fh.Filename, purpose, f)
	s.reply(c, file, err)
}

func formFile(form *multipart.Form) (*multipart.FileHeader, error) {
	files := form.File["file"]
	if len(files) != 1 {
		return nil, invalid("file", "Missing required parameter: 'file' (exactly one file).")
	}
	return files[0], nil
}

// handleFileList serves GET /v1/files.
func (s *Server) handleFileList(c *gin.Context) {
	p, err := listParams(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.ingest.svc.ListFiles(c.Request.Context(), tenantOf(c), p)
	s.reply(c, page, err)
}

// handleFileGet serves GET /v1/files/{id}.
func (s *Server) handleFileGet(c *gin.Context) {
	f, err := s.ingest.svc.GetFile(c.Request.Context(), tenantOf(c), c.Param("id"))
	s.reply(c, f, err)
}

// handleFileContent serves GET /v1/files/{id}/content.
func (s *Server) handleFileContent(c *gin.Context) {
	f, rc, err := s.ingest.svc.OpenContent(c.Request.Context(), tenantOf(c), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	defer rc.Close()
	h := c.Writer.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", fmt.Sprint(f.Bytes))
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", f.Filename))
	s.begin(c, stateOf(c), http.StatusOK)
	_, _ = io.Copy(c.Writer, rc)
}

// handleFileDelete serves DELETE /v1/files/{id}.
func (s *Server) handleFileDelete(c *gin.Context) {
	d, err := s.ingest.svc.DeleteFile(c.Request.Context(), tenantOf(c), c.Param("id"))
	s.reply(c, d, err)
}
