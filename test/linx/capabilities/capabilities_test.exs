Code.require_file("../process/helpers.exs", __DIR__)

defmodule Linx.CapabilitiesTest do
  # The capability table against linux/capability.h, /proc/<pid>/status parsing, reads
  # checked against capsh(1) and getpcaps(8) (libcap's own decoders), and the write
  # verbs' argument checks and session-state answers.
  use ExUnit.Case, async: true

  import Bitwise
  import ExUnit.CaptureLog
  import Linx.Process.TestHelpers

  alias Linx.Capabilities, as: Caps
  alias Linx.Capabilities.{Constants, Error, State}
  alias Linx.Process, as: LP

  doctest Linx.Capabilities.Constants
  doctest Linx.Capabilities.Error

  @header "/usr/include/linux/capability.h"
  @capsh System.find_executable("capsh")
  @getpcaps System.find_executable("getpcaps")

  describe "Constants" do
    @tag skip: if(File.exists?(@header), do: false, else: "no #{@header}")
    test "the table is linux/capability.h's, both ways" do
      defines =
        for [name, n] <-
              Regex.scan(~r/^#define\s+(CAP_[A-Z_]+)\s+(\d+)\s*$/m, File.read!(@header),
                capture: :all_but_first
              ),
            into: %{},
            do: {String.to_atom(String.downcase(name)), String.to_integer(n)}

      assert Map.new(Constants.table()) == defines

      [_, last] = Regex.run(~r/^#define\s+CAP_LAST_CAP\s+(CAP_[A-Z_]+)/m, File.read!(@header))
      assert Constants.last_cap() == defines[String.to_atom(String.downcase(last))]
    end

    test "names, numbers and masks" do
      assert MapSet.size(Constants.all()) == Constants.last_cap() + 1
      assert Constants.known_mask() == (1 <<< (Constants.last_cap() + 1)) - 1

      for {name, bit} <- Constants.table() do
        assert Constants.to_bit(name) == bit
        assert Constants.from_bit(bit) == name
        assert Constants.from_bits(Constants.to_bits([name])) == MapSet.new([name])
      end

      assert Constants.to_bit(:cap_nope) == nil
      assert Constants.to_bit("cap_chown") == nil
      assert Constants.from_bit(41) == :unknown
      assert Constants.from_bit(-1) == :unknown
      assert Constants.to_bits([]) == 0
      assert Constants.to_bits(Constants.all()) == Constants.known_mask()
      # Unknown bits are left out.
      assert Constants.from_bits(1 <<< 63 ||| 1) == MapSet.new([:cap_chown])

      assert_raise ArgumentError, "not a capability: :cap_nope", fn ->
        Constants.to_bits([:cap_chown, :cap_nope])
      end
    end

    test "the running kernel's last capability" do
      assert {:ok, n} = Caps.kernel_last_cap()
      assert n == String.to_integer(String.trim(File.read!("/proc/sys/kernel/cap_last_cap")))
    end
  end

  describe "parse_status/2" do
    @status """
    Name:\tsh
    Uid:\t0\t0\t0\t0
    CapInh:\t0000000000000400
    CapPrm:\t000001fffedfffff
    CapEff:\t000001fffedfffff
    CapBnd:\t000001fffedfffff
    CapAmb:\t0000000000000400
    NoNewPrivs:\t0
    """

    test "the five sets, keyed by tag" do
      assert {:ok, %State{} = s} = Caps.parse_status(@status, "/proc/1/status")
      assert s.inheritable == MapSet.new([:cap_net_bind_service])
      assert s.ambient == MapSet.new([:cap_net_bind_service])
      all = Constants.all()
      assert s.bounding == MapSet.difference(all, MapSet.new([:cap_sys_admin, :cap_sys_resource]))
      assert s.effective == s.permitted
      assert inspect(s) == "#Linx.Capabilities.State<eff=39 prm=39 inh=1 bnd=39 amb=1>"

      # Order does not matter.
      shuffled = @status |> String.split("\n") |> Enum.reverse() |> Enum.join("\n")
      assert Caps.parse_status(shuffled, "x") == {:ok, s}
    end

    test "a missing line is :bad_status" do
      for tag <- ~w(CapInh CapPrm CapEff CapBnd CapAmb) do
        text = @status |> String.split("\n") |> Enum.reject(&String.starts_with?(&1, tag))

        assert {:error, %Error{errno: :bad_status, code: nil, operation: :read, path: "p"}} =
                 Caps.parse_status(Enum.join(text, "\n"), "p")
      end

      assert {:error, %Error{errno: :bad_status}} = Caps.parse_status("", "p")
      assert {:error, %Error{errno: :bad_status}} = Caps.parse_status(<<0, 255, 10>>, "p")
    end

    test "bits newer than the table are left out, with a warning" do
      text = String.replace(@status, "CapBnd:\t000001fffedfffff", "CapBnd:\t000021fffedfffff")

      log =
        capture_log(fn ->
          assert {:ok, s} = Caps.parse_status(text, "/proc/7/status")
          assert MapSet.size(s.bounding) == 39
        end)

      assert log =~ "/proc/7/status"
      assert log =~ "0x200000000000"
    end
  end

  describe "read/1" do
    test "self, as /proc/self/status says" do
      assert {:ok, %State{} = s} = Caps.read(:self)
      status = File.read!("/proc/self/status")

      for {tag, field} <- [
            {"CapInh", :inheritable},
            {"CapPrm", :permitted},
            {"CapEff", :effective},
            {"CapBnd", :bounding},
            {"CapAmb", :ambient}
          ] do
        [_, hex] = Regex.run(~r/^#{tag}:\s+([0-9a-f]+)$/m, status)
        assert Constants.to_bits(Map.fetch!(s, field)) == String.to_integer(hex, 16)
      end

      assert Caps.supported?()
    end

    @tag skip: if(@capsh, do: false, else: "capsh is not installed")
    test "each set decodes as capsh --decode decodes it" do
      {:ok, s} = Caps.read(:self)

      for set <- [s.effective, s.permitted, s.inheritable, s.bounding, s.ambient] do
        hex = Integer.to_string(Constants.to_bits(set), 16)
        {out, 0} = System.cmd(@capsh, ["--decode=#{hex}"])
        [_, names] = Regex.run(~r/=(.*)$/, String.trim(out))
        capsh = names |> String.split(",", trim: true) |> MapSet.new(&String.to_atom/1)
        assert capsh == set
      end
    end

    @tag skip: if(@getpcaps, do: false, else: "getpcaps is not installed")
    test "another process, as getpcaps --iab reports it" do
      {:ok, s} = LP.spawn(argv: ["/bin/sleep", "30"], auto_proceed: true)
      host_pid = await_ready()
      await_running()
      assert {:ok, state} = Caps.read(host_pid)
      assert getpcaps(host_pid) == state
      :ok = LP.signal(s, 9)
    end

    test "a pid that does not exist, and bad arguments" do
      pid = String.to_integer(String.trim(File.read!("/proc/sys/kernel/pid_max"))) + 1
      path = "/proc/#{pid}/status"

      assert {:error, %Error{errno: :enoent, code: 2, path: ^path, operation: :read} = e} =
               Caps.read(pid)

      assert Exception.message(e) == "capabilities read failed on #{path}: enoent (errno 2)"

      for bad <- [0, -3, "1", :other, nil, 1.5] do
        error = assert_raise ArgumentError, fn -> Caps.read(bad) end
        assert error.message =~ inspect(bad)
      end
    end
  end

  describe "write verbs: arguments" do
    test "capabilities are checked before the session is asked (first offender)" do
      dead = spawn(fn -> :ok end)

      for fun <- [&Caps.drop_bounding/2, &Caps.set_ambient/2] do
        assert fun.(dead, [:cap_chown, :cap_nope, 7]) == {:error, {:bad_capability, :cap_nope}}
        assert fun.(dead, [7]) == {:error, {:bad_capability, 7}}
        assert fun.(dead, MapSet.new(["cap_chown"])) == {:error, {:bad_capability, "cap_chown"}}

        for bad <- [:cap_chown, 5, "cap_chown"] do
          error = assert_raise ArgumentError, fn -> fun.(dead, bad) end
          assert error.message =~ inspect(bad)
        end

        for bad <- [nil, :session, 12] do
          error = assert_raise ArgumentError, fn -> fun.(bad, []) end
          assert error.message =~ inspect(bad)
        end
      end
    end

    test "set_thread_sets: keys checked in order, then capabilities" do
      dead = spawn(fn -> :ok end)

      assert Caps.set_thread_sets(dead, permitted: [], inheritable: []) ==
               {:error, {:bad_thread_sets, {:missing, :effective}}}

      assert Caps.set_thread_sets(dead, effective: [:nope], inheritable: []) ==
               {:error, {:bad_thread_sets, {:missing, :permitted}}}

      assert Caps.set_thread_sets(dead, effective: [], permitted: []) ==
               {:error, {:bad_thread_sets, {:missing, :inheritable}}}

      assert Caps.set_thread_sets(dead, effective: [], permitted: [:x], inheritable: []) ==
               {:error, {:bad_capability, :x}}

      assert_raise ArgumentError, ~r/unknown capability set :bounding/, fn ->
        Caps.set_thread_sets(dead, effective: [], permitted: [], inheritable: [], bounding: [])
      end

      assert_raise ArgumentError, ~r/keyword list/, fn -> Caps.set_thread_sets(dead, %{}) end
      assert_raise ArgumentError, ~r/session pid/, fn -> Caps.set_thread_sets("s", []) end
    end

    test "answers for each session state" do
      # A dead session.
      dead = spawn(fn -> :ok end)
      assert Caps.drop_bounding(dead, [:cap_chown]) == {:error, :no_process}

      # Before :ready (an agent that never answers).
      agent = fake_agent!("exec cat <&3 >/dev/null")
      {:ok, s} = LP.spawn(argv: ["/bin/true"], agent: agent)
      assert Caps.drop_bounding(s, [:cap_chown]) == {:error, :not_ready}
      assert Caps.set_ambient(s, []) == {:error, :not_ready}
      Process.unlink(s)
      Process.exit(s, :kill)

      # At the checkpoint an empty set is a valid command; then running, then ended.
      {:ok, s} = LP.spawn(argv: ["/bin/sleep", "30"])
      await_ready()
      assert Caps.drop_bounding(s, []) == :ok
      :ok = LP.proceed(s)
      await_running()
      assert Caps.drop_bounding(s, [:cap_chown]) == {:error, :running}

      assert Caps.set_thread_sets(s, effective: [], permitted: [], inheritable: []) ==
               {:error, :running}

      :ok = LP.signal(s, 9)
      assert {:ok, {:signaled, 9}} = LP.wait(s)
      assert Caps.set_ambient(s, [:cap_chown]) == {:error, :no_process}
    end
  end

  # getpcaps --iab prints `PID: "TEXT" [IAB]`: TEXT in cap_from_text(3) form for the
  # effective, permitted and inheritable sets; IAB lists `!cap` (not in the bounding
  # set), `^cap` (ambient, and so inheritable) and `%cap` or `cap` (inheritable).
  defp getpcaps(pid) do
    {out, 0} = System.cmd(@getpcaps, ["--iab", to_string(pid)])
    [_, text, iab] = Regex.run(~r/^\d+: "(.*)" \[(.*)\]$/, String.trim(out))
    {:ok, last} = Caps.kernel_last_cap()
    all = for bit <- 0..last, into: MapSet.new(), do: Constants.from_bit(bit)
    sets = from_text(text, all)

    {not_bounding, ambient} =
      for entry <- String.split(iab, ",", trim: true), reduce: {MapSet.new(), MapSet.new()} do
        {nb, amb} ->
          {bang, rest} =
            String.split_at(entry, if(String.starts_with?(entry, "!"), do: 1, else: 0))

          nb = if bang == "!", do: MapSet.put(nb, name(rest)), else: nb
          amb = if String.starts_with?(rest, "^"), do: MapSet.put(amb, name(rest)), else: amb
          {nb, amb}
      end

    %State{
      effective: sets.e,
      permitted: sets.p,
      inheritable: sets.i,
      bounding: MapSet.difference(all, not_bounding),
      ambient: ambient
    }
  end

  defp name(text),
    do: text |> String.trim_leading("^") |> String.trim_leading("%") |> String.to_atom()

  # cap_from_text(3): space-separated clauses `names OP flags [OP flags]...`, where an
  # empty name list means every capability, `=` first clears the names from all three
  # sets, `+` adds and `-` removes.
  defp from_text(text, all) do
    empty = %{e: MapSet.new(), p: MapSet.new(), i: MapSet.new()}

    for clause <- String.split(text, " ", trim: true), reduce: empty do
      sets ->
        [names | ops] = Regex.split(~r/(?=[=+-])/, clause)

        caps =
          if names == "", do: all, else: MapSet.new(String.split(names, ","), &String.to_atom/1)

        for op <- ops, reduce: sets do
          sets ->
            {sign, flags} = String.split_at(op, 1)
            flags = for f <- String.graphemes(flags), do: String.to_atom(f)

            sets =
              if sign == "=",
                do: Map.new(sets, fn {k, v} -> {k, MapSet.difference(v, caps)} end),
                else: sets

            Enum.reduce(flags, sets, fn f, sets ->
              Map.update!(sets, f, fn v ->
                if sign == "-", do: MapSet.difference(v, caps), else: MapSet.union(v, caps)
              end)
            end)
        end
    end
  end
end
