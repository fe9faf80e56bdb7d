package flowprobe

// Redact is what a run does to what it tells, for secrets.
func Redact(s string, secrets []string) string {
	return (&flowRun{secrets: secrets}).redact(s)
}
