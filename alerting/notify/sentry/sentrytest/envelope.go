// Package sentrytest reads what sentry-go sends, for tests that stand up a
// local Sentry ingest endpoint as the DSN.
package sentrytest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// DecodeEvents reads an envelope and decodes each of its event items into
// a T, the event fields a test looks at; id is the envelope header's event
// id. An envelope is a header line, then items, each an item header line
// and a payload of the header's length (or up to the next newline when the
// header has none). Items other than events are skipped here.
func DecodeEvents[T any](r io.Reader) (id string, events []T, err error) {
	env, err := decodeEnvelope(r)
	if err != nil {
		return "", nil, err
	}
	events = make([]T, len(env.events))
	for i, raw := range env.events {
		if err := json.Unmarshal(raw, &events[i]); err != nil {
			return "", nil, fmt.Errorf("event: %w", err)
		}
	}
	return env.eventID, events, nil
}

// Attachment is an attachment item of an envelope.
type Attachment struct {
	Filename, ContentType string
	Payload               []byte
}

// DecodeAttachments reads an envelope and returns its attachment items,
// in order.
func DecodeAttachments(r io.Reader) ([]Attachment, error) {
	env, err := decodeEnvelope(r)
	return env.attachments, err
}

// envelope is a decoded envelope: its header's event id, the payloads of
// its event items, and its attachments.
type envelope struct {
	eventID     string
	events      []json.RawMessage
	attachments []Attachment
}

func decodeEnvelope(r io.Reader) (envelope, error) {
	var env envelope
	br := bufio.NewReader(r)
	line, err := br.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return env, fmt.Errorf("envelope header: %w", err)
	}
	var header struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(line, &header); err != nil {
		return env, fmt.Errorf("envelope header %q: %w", line, err)
	}
	env.eventID = header.EventID
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) == 0 {
			if err == io.EOF {
				return env, nil
			}
			if err != nil {
				return env, err
			}
			continue
		}
		var item struct {
			Type        string `json:"type"`
			Length      *int   `json:"length"`
			Filename    string `json:"filename"`
			ContentType string `json:"content_type"`
		}
		if err := json.Unmarshal(line, &item); err != nil {
			return env, fmt.Errorf("item header %q: %w", line, err)
		}
		var payload []byte
		if item.Length != nil {
			payload = make([]byte, *item.Length)
			if _, err := io.ReadFull(br, payload); err != nil {
				return env, fmt.Errorf("item payload: %w", err)
			}
		} else if payload, err = br.ReadBytes('\n'); err != nil && err != io.EOF {
			return env, fmt.Errorf("item payload: %w", err)
		}
		switch item.Type {
		case "event":
			env.events = append(env.events, json.RawMessage(bytes.TrimSpace(payload)))
		case "attachment":
			env.attachments = append(env.attachments, Attachment{Filename: item.Filename, ContentType: item.ContentType, Payload: payload})
		}
	}
}
