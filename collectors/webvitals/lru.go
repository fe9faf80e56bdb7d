package webvitals

// lru is a map of at most max entries that evicts the least recently used
// one. A full lru reuses the evicted node, so a stream of new keys allocates
// nothing once it is full: memory stays flat however many keys go by.
// It is not safe for concurrent use; its owner holds a lock.
type lru[K comparable, V any] struct {
	max        int
	items      map[K]*lruNode[K, V]
	head, tail *lruNode[K, V] // head is the most recently used
}

type lruNode[K comparable, V any] struct {
	key        K
	val        V
	prev, next *lruNode[K, V]
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, items: make(map[K]*lruNode[K, V], min(max, 1024))}
}

func (l *lru[K, V]) len() int { return len(l.items) }

// get returns the value of k, marking it the most recently used.
func (l *lru[K, V]) get(k K) (*V, bool) {
	n, ok := l.items[k]
	if !ok {
		return nil, false
	}
	l.moveToFront(n)
	return &n.val, true
}

// add stores v under k, which must be absent, evicting the least recently
// used entry when the lru is full. It returns the stored value.
func (l *lru[K, V]) add(k K, v V) *V {
	var n *lruNode[K, V]
	if len(l.items) >= l.max && l.tail != nil {
		n = l.tail
		l.unlink(n)
		delete(l.items, n.key)
		*n = lruNode[K, V]{}
	} else {
		n = &lruNode[K, V]{}
	}
	n.key, n.val = k, v
	l.items[k] = n
	l.pushFront(n)
	return &n.val
}

func (l *lru[K, V]) moveToFront(n *lruNode[K, V]) {
	if l.head == n {
		return
	}
	l.unlink(n)
	l.pushFront(n)
}

func (l *lru[K, V]) pushFront(n *lruNode[K, V]) {
	n.prev, n.next = nil, l.head
	if l.head != nil {
		l.head.prev = n
	}
	l.head = n
	if l.tail == nil {
		l.tail = n
	}
}

func (l *lru[K, V]) unlink(n *lruNode[K, V]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = nil, nil
}
