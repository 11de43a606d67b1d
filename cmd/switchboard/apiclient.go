package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// apiFlags adds the flags of the commands that talk to a running Switchboard API.
func apiFlags(cmd *cobra.Command, apiURL, token *string) {
	cmd.PersistentFlags().StringVar(apiURL, "api", "http://127.0.0.1:8080", "base URL of the Switchboard API")
	cmd.PersistentFlags().StringVar(token, "token", "", "ops bearer token (secret: set SWITCHBOARD_TOKEN, or file:/path)")
}

// apiError is a non-2xx answer of the API.
type apiError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
}

// callAPI sends one request and decodes the JSON answer into out, whatever its
// status (a partial answer may come with an error status). A non-2xx answer is an
// *apiError carrying the API's message. Requests time out after timeout.
func callAPI(ctx context.Context, method, base, token, path string, body []byte, out any, timeout time.Duration) error {
	if err := readSecret("token", &token); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	decodeErr := json.Unmarshal(data, out)
	if resp.StatusCode/100 != 2 {
		e := &apiError{Method: method, Path: path, Status: resp.StatusCode, Message: strings.TrimSpace(string(data))}
		var m struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &m) == nil && m.Error != "" {
			e.Message = m.Error
		}
		return e
	}
	if decodeErr != nil {
		return fmt.Errorf("%s %s: unreadable answer: %w", method, path, decodeErr)
	}
	return nil
}
