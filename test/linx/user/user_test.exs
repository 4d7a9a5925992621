defmodule Linx.UserTest do
  # The parts of Linx.User that need no kernel: map validation, parsing, the rule
  # predicate, structs and argument checking. The kernel agrees with each rule in
  # live_test.exs.
  use ExUnit.Case, async: true

  alias Linx.User
  alias Linx.User.{Error, Map}

  doctest Linx.User.Map
  doctest Linx.User.Error

  @max 0xFFFF_FFFF

  describe "validate_map/1" do
    test "renders one line per mapping" do
      assert User.validate_map([{0, 1000, 1}]) == {:ok, "0 1000 1\n"}

      assert User.validate_map([{0, 100_000, 65_536}, {65_536, 0, 1}]) ==
               {:ok, "0 100000 65536\n65536 0 1\n"}
    end

    test "empty and non-lists" do
      assert User.validate_map([]) == {:error, {:bad_map, :empty}}
      assert User.validate_map(nil) == {:error, {:bad_map, :not_a_list}}
      assert User.validate_map({0, 0, 1}) == {:error, {:bad_map, :not_a_list}}
      assert User.validate_map("0 0 1") == {:error, {:bad_map, :not_a_list}}
    end

    test "every bad entry is named, the first one reported" do
      for bad <- [
            {0, 1000},
            {0, 1000, 1, 2},
            [0, 1000, 1],
            {-1, 0, 1},
            {0, -1, 1},
            {0, 0, 0},
            {0, 0, -5},
            {"0", 0, 1},
            {0, 0, 1.0},
            {:a, 0, 1},
            # (u32)-1 is no id, and no range may reach it
            {@max, 0, 1},
            {0, @max, 1},
            {@max - 1, 0, 2},
            {0, @max - 1, 2},
            {0, 0, @max + 1},
            {@max + 1, 0, 1}
          ] do
        assert User.validate_map([{0, 0, 1}, bad, {:also, :bad}]) ==
                 {:error, {:bad_map, {:bad_entry, bad}}},
               "#{inspect(bad)} accepted"
      end
    end

    test "the largest ranges: up to id 4294967294" do
      assert {:ok, _} = User.validate_map([{0, 0, @max}])
      assert {:ok, _} = User.validate_map([{@max - 1, @max - 1, 1}])
    end

    test "ranges may touch but not overlap, neither inside nor outside" do
      assert {:ok, _} = User.validate_map([{0, 1000, 10}, {10, 1010, 10}])
      assert {:ok, _} = User.validate_map([{10, 1010, 10}, {0, 1000, 10}])

      # inside 5..14 overlaps 0..9
      assert User.validate_map([{0, 1000, 10}, {5, 2000, 10}]) ==
               {:error, {:bad_map, {:overlap, {0, 1000, 10}, {5, 2000, 10}}}}

      # outside 1005..1014 overlaps 1000..1009
      assert User.validate_map([{0, 1000, 10}, {100, 1005, 10}]) ==
               {:error, {:bad_map, {:overlap, {0, 1000, 10}, {100, 1005, 10}}}}

      # one range inside another, listed out of order
      assert {:error, {:bad_map, {:overlap, {0, 0, 100}, {50, 500, 1}}}} =
               User.validate_map([{50, 500, 1}, {0, 0, 100}])

      # the same line twice
      assert {:error, {:bad_map, {:overlap, _, _}}} = User.validate_map([{0, 0, 1}, {0, 0, 1}])
    end

    test "at most 340 lines" do
      lines = for i <- 0..339, do: {i, 1000 + i, 1}
      assert {:ok, blob} = User.validate_map(lines)
      assert length(String.split(blob, "\n", trim: true)) == 340

      assert User.validate_map(lines ++ [{340, 1340, 1}]) ==
               {:error, {:bad_map, {:too_many_lines, 341}}}
    end

    test "the text must fit in one write smaller than a page" do
      # 200 lines of 24 bytes: 4800 bytes, more than a 4 KiB page.
      lines = for i <- 0..199, do: {4_000_000_000 + i, 4_000_000_000 + i, 1}
      assert {:error, {:bad_map, {:too_long, 4800}}} = User.validate_map(lines)
    end
  end

  describe "parse_map/1" do
    test "the kernel's column layout, and lines that are not mappings" do
      text = "         0          0 4294967295\n         1     100000      65535\n"

      assert User.parse_map(text) == [
               %Map{inside: 0, outside: 0, length: 4_294_967_295},
               %Map{inside: 1, outside: 100_000, length: 65_535}
             ]

      assert User.parse_map("") == []

      assert User.parse_map("0 0\n1 2 3 4\nx y z\n0 0 0\n-1 0 1\n5 6 7") == [
               %Map{inside: 5, outside: 6, length: 7}
             ]
    end

    test "never raises" do
      for text <- ["\0\0\0", "1 2 3\n\n\n", String.duplicate("9", 100), "0x1 0 1"] do
        assert is_list(User.parse_map(text))
      end
    end
  end

  describe "check_rules/4" do
    @root %{euid: 0, egid: 0, cap_eff: 0x1FF_FFFF_FFFF}
    @nobody %{euid: 65_534, egid: 65_534, cap_eff: 0}
    @fresh %{written?: false, setgroups: :allow}
    @denied %{written?: false, setgroups: :deny}

    test "with CAP_SETUID/CAP_SETGID any valid map is allowed" do
      assert User.check_rules(:uid, [{0, 100_000, 65_536}, {65_536, 0, 1}], @root, @fresh) ==
               :ok

      assert User.check_rules(:gid, [{0, 100_000, 65_536}], @root, @fresh) == :ok
    end

    test "a map is written once" do
      assert {:error, "uid_map is already written" <> _} =
               User.check_rules(:uid, [{0, 0, 1}], @root, %{@fresh | written?: true})
    end

    test "without the capability: one line, own id, length 1; gid only after deny" do
      assert User.check_rules(:uid, [{0, 65_534, 1}], @nobody, @fresh) == :ok
      assert {:error, msg} = User.check_rules(:uid, [{0, 65_534, 2}], @nobody, @fresh)
      assert msg =~ "CAP_SETUID"
      assert {:error, _} = User.check_rules(:uid, [{0, 1000, 1}], @nobody, @fresh)
      assert {:error, _} = User.check_rules(:uid, [{0, 65_534, 1}, {1, 1, 1}], @nobody, @fresh)

      assert {:error, msg} = User.check_rules(:gid, [{0, 65_534, 1}], @nobody, @fresh)
      assert msg =~ "setgroups must be \"deny\""
      assert User.check_rules(:gid, [{0, 65_534, 1}], @nobody, @denied) == :ok
      assert {:error, msg} = User.check_rules(:gid, [{0, 0, 1}], @nobody, @denied)
      assert msg =~ "CAP_SETGID"
    end

    test "CAP_SETUID alone does not make gid maps privileged" do
      setuid_only = %{@nobody | cap_eff: Bitwise.bsl(1, 7)}
      assert User.check_rules(:uid, [{0, 0, 100}], setuid_only, @fresh) == :ok
      assert {:error, _} = User.check_rules(:gid, [{0, 0, 100}], setuid_only, @denied)
    end
  end

  describe "argument checking" do
    test "a pid that is not a positive integer raises, naming it" do
      for bad <- [0, -1, "1", 1.0, nil, self()] do
        for fun <- [
              fn -> User.deny_setgroups(bad) end,
              fn -> User.read_setgroups(bad) end,
              fn -> User.set_uid_map(bad, [{0, 0, 1}]) end,
              fn -> User.set_gid_map(bad, [{0, 0, 1}]) end,
              fn -> User.read_uid_map(bad) end,
              fn -> User.read_gid_map(bad) end,
              fn -> User.setup_maps(bad, uid: [{0, 0, 1}], gid: [{0, 0, 1}]) end
            ] do
          error = assert_raise ArgumentError, fun
          assert error.message =~ inspect(bad)
        end
      end
    end

    test "setup_maps: options, missing keys, setgroups values" do
      pid = 4_194_304_000

      assert_raise ArgumentError, ~r/unknown option :uids/, fn ->
        User.setup_maps(pid, uids: [{0, 0, 1}], gid: [{0, 0, 1}])
      end

      assert_raise ArgumentError, ~r/keyword list/, fn -> User.setup_maps(pid, %{uid: []}) end

      assert User.setup_maps(pid, gid: [{0, 0, 1}]) == {:error, {:bad_setup, {:missing, :uid}}}
      assert User.setup_maps(pid, uid: [{0, 0, 1}]) == {:error, {:bad_setup, {:missing, :gid}}}

      assert User.setup_maps(pid, uid: [{0, 0, 1}], gid: [{0, 0, 1}], setgroups: :allow) ==
               {:error, {:bad_setgroups, :allow}}

      # Both maps are validated before anything else happens.
      assert User.setup_maps(pid, uid: [{0, 0, 1}], gid: [{0, 0}]) ==
               {:error, {:bad_map, {:bad_entry, {0, 0}}}}

      assert User.set_uid_map(pid, []) == {:error, {:bad_map, :empty}}
    end
  end

  test "Inspect and Exception.message" do
    assert inspect(%Map{inside: 0, outside: 100_000, length: 65_536}) ==
             "#Linx.User.Map<0..65535 -> 100000..165535>"

    assert Map.to_tuple(%Map{inside: 1, outside: 2, length: 3}) == {1, 2, 3}

    e = Error.from_posix(:eperm, "/proc/1/gid_map", :set_gid_map, "a reason")

    assert Exception.message(e) ==
             "user set_gid_map failed on /proc/1/gid_map: eperm (errno 1): a reason"

    e = Error.from_posix(:ebogus, "/proc/1/uid_map", :read_uid_map)
    assert e.code == nil
    assert Exception.message(e) == "user read_uid_map failed on /proc/1/uid_map: ebogus"
  end

  test "supported?/0 and reads of the BEAM's own (initial) namespace" do
    assert User.supported?()
    me = String.to_integer(System.pid())
    assert {:ok, [%Map{inside: 0, outside: 0, length: 4_294_967_295}]} = User.read_uid_map(me)
    assert {:ok, [%Map{inside: 0, outside: 0, length: 4_294_967_295}]} = User.read_gid_map(me)
    assert User.read_setgroups(me) == {:ok, :allow}
  end

  test "a pid that does not exist: :enoent, before any write" do
    pid = String.to_integer(String.trim(File.read!("/proc/sys/kernel/pid_max"))) + 1

    assert {:error, %Error{errno: :enoent, operation: :set_uid_map, path: path}} =
             User.set_uid_map(pid, [{0, 0, 1}])

    assert path == "/proc/#{pid}/uid_map"
    assert {:error, %Error{errno: :enoent, operation: :read_gid_map}} = User.read_gid_map(pid)
    assert {:error, %Error{errno: :enoent, operation: :deny_setgroups}} = User.deny_setgroups(pid)
    assert {:error, %Error{errno: :enoent, operation: :read_setgroups}} = User.read_setgroups(pid)
  end
end
