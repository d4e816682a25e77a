"""The user address space of a Linux guest (vm/address_space.py): mappings, permissions, faults, the slow path."""

from __future__ import annotations

import pytest

from vm.address_space import CODE, EXEC, PAGE, READ, WRITE, AddressSpace, MemoryFault, OutOfMemory

SIZE = 64 * PAGE


@pytest.fixture
def space() -> AddressSpace:
    return AddressSpace(SIZE, 16 * PAGE)


def fault(call, *args) -> MemoryFault:
    with pytest.raises(MemoryFault) as caught:
        call(*args)
    return caught.value


def test_fresh_pages_read_as_zeros_and_count_against_the_limit(space: AddressSpace) -> None:
    space.map(PAGE, 3 * PAGE, READ | WRITE)
    assert space.mapped == 3 * PAGE
    assert space.read(PAGE, 3 * PAGE) == bytes(3 * PAGE)
    space.map(2 * PAGE, 4 * PAGE, READ)  # over one mapped page: only the new pages count
    assert space.mapped == 5 * PAGE
    space.unmap(0, 8 * PAGE)  # unmapped pages in the range are fine
    assert space.mapped == 0


def test_a_mapping_past_the_limit_or_the_end_is_refused_and_changes_nothing(space: AddressSpace) -> None:
    space.map(0, 10 * PAGE, READ)
    with pytest.raises(OutOfMemory, match="limit"):
        space.map(20 * PAGE, 7 * PAGE, READ)
    with pytest.raises(OutOfMemory, match="outside"):
        space.map(SIZE - PAGE, 2 * PAGE, READ)
    assert space.mapped == 10 * PAGE
    assert space.is_unmapped(20 * PAGE, 7 * PAGE)
    space.map(20 * PAGE, 6 * PAGE, READ)  # exactly up to the limit
    assert space.mapped == space.limit


def test_remapping_and_unmapping_give_zero_pages_again(space: AddressSpace) -> None:
    space.map(PAGE, PAGE, READ | WRITE)
    space.write(PAGE + 10, b"data")
    space.map(PAGE, PAGE, READ | WRITE)
    assert space.read(PAGE + 10, 4) == bytes(4)
    space.write(PAGE, b"x")
    space.unmap(PAGE, PAGE)
    space.map(PAGE, PAGE, READ)
    assert space.read(PAGE, 1) == b"\0"


@pytest.mark.parametrize(
    ("prot", "call", "args", "message"),
    [
        (0, "read", (0x0, 1), "read from 0x0: not mapped"),
        (READ, "write", (0x1234, b"x"), "write to 0x1234: page is read-only"),
        (EXEC, "read", (0x1008, 8), "read from 0x1008: page is not readable"),
        (READ | WRITE, "read", (SIZE - 2, 4), f"read from {SIZE:#x}: not mapped"),
        (READ | WRITE, "read", (-8, 8), "read from 0xfffffffffffffff8: not mapped"),
    ],
)
def test_faults_name_the_access_the_address_and_the_reason(space, prot, call, args, message) -> None:
    space.map(PAGE, PAGE, prot)
    if args[0] >= SIZE - PAGE:
        space.map(SIZE - PAGE, PAGE, prot)
    error = fault(getattr(space, call), *args)
    assert str(error) == message
    assert error.access == call


def test_a_protect_changes_what_an_access_may_do(space: AddressSpace) -> None:
    space.map(PAGE, 2 * PAGE, READ | WRITE)
    space.protect(PAGE, PAGE, READ | EXEC)
    assert space.fetch_ok(PAGE, 4) and not space.fetch_ok(PAGE, PAGE + 4)
    assert str(fault(space.write, PAGE, b"x")) == "write to 0x1000: page is read-only"
    space.protect(PAGE, PAGE, 0)  # PROT_NONE: still mapped, nothing allowed
    assert space.is_mapped(PAGE, PAGE, 0) and not space.is_mapped(PAGE, PAGE, READ)
    assert str(fault(space.read, PAGE + 5, 1)) == "read from 0x1005: page is not readable"
    with pytest.raises(OutOfMemory):
        space.protect(2 * PAGE, 2 * PAGE, READ)  # the second page is not mapped


@pytest.mark.parametrize(
    ("offset", "size", "value", "signed", "expected"),
    [
        (0, 1, 0x80, True, -128),
        (0, 1, 0x80, False, 0x80),
        (1, 2, 0xBEEF, False, 0xBEEF),
        (PAGE - 1, 2, 0x1234, False, 0x1234),  # crosses into the next page
        (PAGE - 3, 4, -2, True, -2),
        (PAGE - 5, 8, -(1 << 63), True, -(1 << 63)),
        (PAGE - 7, 8, (1 << 64) - 1, False, (1 << 64) - 1),
        (3, 8, 0x0123456789ABCDEF, False, 0x0123456789ABCDEF),
    ],
)
def test_slow_path_loads_and_stores_at_any_address(space, offset, size, value, signed, expected) -> None:
    space.map(PAGE, 2 * PAGE, READ | WRITE)
    space.store(PAGE + offset, size, value)
    assert space.load(PAGE + offset, size, signed) == expected
    assert space.read(PAGE + offset, size) == (value & ((1 << 8 * size) - 1)).to_bytes(size, "little")


def test_a_store_across_into_a_read_only_page_writes_no_byte(space: AddressSpace) -> None:
    space.map(PAGE, PAGE, READ | WRITE)
    space.map(2 * PAGE, PAGE, READ)
    error = fault(space.store, 2 * PAGE - 4, 8, -1)
    assert (error.addr, error.access, str(error)) == (2 * PAGE, "write", "write to 0x2000: page is read-only")
    assert space.read(2 * PAGE - 4, 8) == bytes(8)
    assert str(fault(space.load, 3 * PAGE - 2, 4, False)) == "read from 0x3000: not mapped"


def test_code_changed_hears_of_every_change_to_a_code_page_once(space: AddressSpace) -> None:
    calls: list[tuple[int, int]] = []
    space.code_changed = lambda lo, hi: calls.append((lo, hi))
    space.map(PAGE, 6 * PAGE, READ | WRITE | EXEC)
    space.store(PAGE, 4, 1)  # no CODE page yet: silent
    assert calls == []

    def decode(*pages: int) -> None:
        for page in pages:
            space.perm[page] |= CODE

    decode(1, 2)
    space.store(2 * PAGE - 2, 4, 0x13)  # a store into both pages: one call for the run
    assert calls == [(PAGE, 3 * PAGE)]
    space.store(PAGE, 4, 0x13)  # CODE was cleared: the CPU decodes again before it hears more
    assert calls == [(PAGE, 3 * PAGE)]
    decode(1, 3)
    space.write(PAGE, b"abcd")
    decode(4)
    space.protect(3 * PAGE, 2 * PAGE, READ)  # two CODE pages lose EXEC at once
    decode(5)
    space.protect(5 * PAGE, PAGE, READ | EXEC)  # keeps EXEC: nothing to tell
    space.unmap(5 * PAGE, PAGE)
    decode(6)
    space.map(6 * PAGE, PAGE, READ)
    assert calls[1:] == [(PAGE, 2 * PAGE), (3 * PAGE, 5 * PAGE), (5 * PAGE, 6 * PAGE), (6 * PAGE, 7 * PAGE)]
    assert not any(p & CODE for p in space.perm)


def test_find_free_searches_down_from_below(space: AddressSpace) -> None:
    assert space.find_free(PAGE, 40 * PAGE) == 39 * PAGE
    space.map(36 * PAGE, 4 * PAGE, READ)
    assert space.find_free(3 * PAGE, 40 * PAGE) == 33 * PAGE
    space.map(34 * PAGE, PAGE, READ)
    assert space.find_free(2 * PAGE, 40 * PAGE) == 32 * PAGE
    assert space.find_free(PAGE + 1, 40 * PAGE, above=30 * PAGE) == 32 * PAGE
    with pytest.raises(OutOfMemory):
        space.find_free(3 * PAGE, 36 * PAGE, above=32 * PAGE)


def test_read_cstring_stops_at_nul_limit_or_fault(space: AddressSpace) -> None:
    from vm.address_space import CStringTooLong

    space.map(PAGE, PAGE, READ | WRITE)
    space.map(2 * PAGE, PAGE, READ)
    space.write(2 * PAGE - 3, b"abc")
    space.poke(2 * PAGE, b"de\0")  # poke writes the read-only page
    assert space.read_cstring(2 * PAGE - 3, 100) == b"abcde"
    with pytest.raises(CStringTooLong):
        space.read_cstring(2 * PAGE - 3, 5)
    space.poke(3 * PAGE - 2, b"zz")
    assert str(fault(space.read_cstring, 3 * PAGE - 2, 100)) == "read from 0x3000: not mapped"


def test_save_and_restore_keep_pages_permissions_and_counts(space: AddressSpace) -> None:
    space.map(PAGE, 2 * PAGE, READ | WRITE)
    space.map(10 * PAGE, PAGE, READ | EXEC)
    space.map(11 * PAGE, PAGE, 0)
    space.store(PAGE + 100, 8, 0x1122334455667788)
    space.poke(10 * PAGE, b"\x13\x00\x00\x00")
    space.perm[10] |= CODE
    state = space.save()
    assert len(state["runs"]) == 2
    copy = AddressSpace.restore(state)
    assert (copy.size, copy.limit, copy.mapped) == (space.size, space.limit, space.mapped)
    assert copy.load(PAGE + 100, 8, False) == 0x1122334455667788
    assert copy.read(10 * PAGE, 4) == b"\x13\x00\x00\x00"
    assert copy.perm == bytearray(p & ~CODE for p in space.perm)  # nothing is decoded in the copy yet
    assert copy.is_mapped(11 * PAGE, PAGE, 0) and not copy.is_mapped(11 * PAGE, PAGE, READ)
    assert copy.is_unmapped(3 * PAGE, 7 * PAGE)
    assert len(str(state)) < 2000  # zero pages compress to almost nothing
