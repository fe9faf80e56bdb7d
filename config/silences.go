package config

// Silences bounds what the silence API accepts, so that neither a mistake
// nor a stranger can mute every alert for a year or fill memory and disk.
// Expired silences are kept 120 h, as Alertmanager keeps them, and count
// towards Max until they are deleted. A field left out or set to 0 takes
// its default.
type Silences struct {
	// Max is how many silences Lookout keeps: pending, active and
	// expired ones not yet deleted.
	Max int `yaml:"max"`
	// MaxSize bounds one silence: the bytes of its matchers (as
	// written), its author and its comment.
	MaxSize ByteSize `yaml:"max_size"`
	// MaxDuration bounds how long one silence lasts, from its start.
	MaxDuration Duration `yaml:"max_duration"`
}

// Defaults of alerting.silences, and the largest max_size allowed.
const (
	DefaultMaxSilences        = 10000
	DefaultMaxSilenceSize     = ByteSize(8 << 10)
	DefaultMaxSilenceDuration = Duration(90 * 24 * 3600e9)
	maxSilenceSizeLimit       = ByteSize(1 << 20)
)

func (s *Silences) check(d *decoder, path string) {
	switch {
	case s.Max == 0:
		s.Max = DefaultMaxSilences
	case s.Max < 0:
		d.errorAt(path+".max", "%d is negative; want how many silences to keep, like %d", s.Max, DefaultMaxSilences)
	}
	switch {
	case s.MaxSize == 0:
		s.MaxSize = DefaultMaxSilenceSize
	case s.MaxSize > maxSilenceSizeLimit:
		d.errorAt(path+".max_size", "%d bytes is more than a silence needs; want at most 1MiB, like 8KiB", s.MaxSize)
	}
	switch {
	case s.MaxDuration == 0:
		s.MaxDuration = DefaultMaxSilenceDuration
	case s.MaxDuration < Duration(60e9):
		d.errorAt(path+".max_duration", "%s is too short for any silence; want at least 1m, like 2160h (90 days)", s.MaxDuration.Std())
	}
}
