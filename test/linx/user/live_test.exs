defmodule Linx.User.LiveTest do
  # Linx.User against the kernel: workloads parked in new user namespaces by
  # Linx.Process, their maps written and read back, and the kernel as the oracle for
  # each rule Linx checks before writing (a raw write of what Linx refuses must be
  # refused by the kernel too, and what Linx accepts the kernel accepts).
  use ExUnit.Case, async: true

  alias Linx.Process, as: LP
  alias Linx.User
  alias Linx.User.{Error, Map}

  @moduletag :root

  @max 0xFFFF_FFFF

  # A workload parked at the checkpoint in a new user namespace; aborted on exit.
  defp parked(argv \\ ["/bin/true"], opts \\ []) do
    {:ok, s} = LP.spawn([argv: argv, namespaces: [:user]] ++ opts)

    host_pid =
      receive do
        {:linx_process, :ready, pid} -> pid
      after
        5_000 -> flunk("no :ready")
      end

    {s, host_pid}
  end

  defp collect(acc \\ "") do
    receive do
      {:linx_process, :stdout, bytes} -> collect(acc <> bytes)
      {:linx_process, :running} -> collect(acc)
      {:linx_process, :exited, code} -> {code, acc}
      {:linx_process, :error, errno, stage} -> flunk("workload failed: #{stage} #{errno}")
    after
      5_000 -> flunk("no exit; so far #{inspect(acc)}")
    end
  end

  test "setup_maps writes setgroups, uid_map and gid_map; the workload is root inside" do
    {s, hp} =
      parked(
        [
          "/bin/sh",
          "-c",
          "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups"
        ],
        stdio: [stdout: :pipe]
      )

    assert User.read_uid_map(hp) == {:ok, []}
    assert User.read_gid_map(hp) == {:ok, []}
    assert User.read_setgroups(hp) == {:ok, :allow}

    uid = [{0, 0, 1}, {1, 100_000, 65_535}]
    gid = [{0, 0, 1}, {1, 200_000, 1000}]
    assert User.setup_maps(hp, uid: uid, gid: gid) == :ok

    assert {:ok, maps} = User.read_uid_map(hp)
    assert Enum.map(maps, &Map.to_tuple/1) == uid
    assert {:ok, maps} = User.read_gid_map(hp)
    assert Enum.map(maps, &Map.to_tuple/1) == gid
    assert User.read_setgroups(hp) == {:ok, :deny}

    # The raw files, as the kernel prints them, say the same.
    assert User.parse_map(File.read!("/proc/#{hp}/uid_map")) ==
             Enum.map(uid, fn {i, o, l} -> %Map{inside: i, outside: o, length: l} end)

    :ok = LP.proceed(s)
    {0, out} = collect()
    [id_u, id_g | rest] = String.split(out, "\n", trim: true)
    assert {id_u, id_g} == {"0", "0"}
    # From inside, the maps read the same (outside ids relative to the parent namespace).
    assert Enum.map(Enum.take(rest, 4), &String.split/1) ==
             [["0", "0", "1"], ["1", "100000", "65535"], ["0", "0", "1"], ["1", "200000", "1000"]]

    assert List.last(rest) == "deny"
  end

  test "setgroups: :skip leaves setgroups alone (a privileged writer needs no deny)" do
    {s, hp} = parked()
    assert User.setup_maps(hp, uid: [{0, 0, 1}], gid: [{0, 0, 1}], setgroups: :skip) == :ok
    assert User.read_setgroups(hp) == {:ok, :allow}
    :ok = LP.abort(s)
  end

  test "a map is written once: refused before writing, and the kernel agrees" do
    {s, hp} = parked()
    assert User.set_uid_map(hp, [{0, 0, 1}]) == :ok
    assert User.set_gid_map(hp, [{0, 0, 1}]) == :ok

    for {fun, file, op} <- [
          {&User.set_uid_map/2, "uid_map", :set_uid_map},
          {&User.set_gid_map/2, "gid_map", :set_gid_map}
        ] do
      assert {:error, %Error{errno: :eperm, code: 1, operation: ^op, detail: detail} = e} =
               fun.(hp, [{0, 0, 1}])

      assert detail =~ "already written"
      assert Exception.message(e) =~ "/proc/#{hp}/#{file}"
      # The kernel: a second write is EPERM.
      assert File.write("/proc/#{hp}/#{file}", "0 0 1\n") == {:error, :eperm}
    end

    # setup_maps checks both before the first write.
    assert {:error, %Error{operation: :set_uid_map, errno: :eperm}} =
             User.setup_maps(hp, uid: [{0, 0, 1}], gid: [{0, 0, 1}])

    :ok = LP.abort(s)
  end

  test "setgroups: deny is idempotent, and refused once gid_map is written" do
    {s, hp} = parked()
    assert User.deny_setgroups(hp) == :ok
    assert User.deny_setgroups(hp) == :ok
    assert User.set_gid_map(hp, [{0, 0, 1}]) == :ok
    # Already "deny": still :ok, nothing to write.
    assert User.deny_setgroups(hp) == :ok
    :ok = LP.abort(s)

    {s, hp} = parked()
    assert User.set_gid_map(hp, [{0, 0, 1}]) == :ok

    assert {:error, %Error{errno: :eperm, operation: :deny_setgroups, detail: detail}} =
             User.deny_setgroups(hp)

    assert detail =~ "gid_map is already written"
    # The kernel agrees.
    assert File.write("/proc/#{hp}/setgroups", "deny") == {:error, :eperm}
    assert User.read_setgroups(hp) == {:ok, :allow}
    :ok = LP.abort(s)
  end

  test "a bad gid map in setup_maps leaves everything unwritten" do
    {s, hp} = parked()

    assert User.setup_maps(hp, uid: [{0, 0, 1}], gid: [{0, 0, 10}, {5, 5, 1}]) ==
             {:error, {:bad_map, {:overlap, {0, 0, 10}, {5, 5, 1}}}}

    assert User.read_setgroups(hp) == {:ok, :allow}
    assert User.read_uid_map(hp) == {:ok, []}
    assert User.read_gid_map(hp) == {:ok, []}
    :ok = LP.abort(s)
  end

  # Each map Linx refuses, written raw into a fresh namespace: the kernel says EINVAL and
  # the map stays unwritten. Each map Linx accepts at the edge of a rule: the kernel
  # takes it.
  test "the validation rules are the kernel's" do
    refused = [
      [{0, 1000, 10}, {5, 2000, 10}],
      [{0, 1000, 10}, {100, 1005, 10}],
      [{0, 0, 1}, {0, 0, 1}],
      [{@max, 0, 1}],
      [{0, @max, 1}],
      [{@max - 1, 0, 2}],
      [{0, 0, 0}],
      for(i <- 0..340, do: {i, 1000 + i, 1}),
      for(i <- 0..199, do: {4_000_000_000 + i, 4_000_000_000 + i, 1})
    ]

    for map <- refused do
      assert {:error, {:bad_map, reason}} = User.validate_map(map)
      assert {:error, {:bad_map, ^reason}} = User.set_uid_map(1, map)
      blob = Enum.map_join(map, fn {i, o, l} -> "#{i} #{o} #{l}\n" end)

      {s, hp} = parked()
      assert File.write("/proc/#{hp}/uid_map", blob) == {:error, :einval}, inspect(reason)
      assert User.read_uid_map(hp) == {:ok, []}
      :ok = LP.abort(s)
    end

    accepted = [
      [{0, 0, @max}],
      [{@max - 1, @max - 1, 1}],
      [{0, 1000, 10}, {10, 1010, 10}],
      for(i <- 0..339, do: {i, 1000 + i, 1})
    ]

    for map <- accepted do
      {s, hp} = parked()
      assert User.set_uid_map(hp, map) == :ok
      assert {:ok, read} = User.read_uid_map(hp)
      assert length(read) == length(map)
      :ok = LP.abort(s)
    end
  end

  # The rules for writers without CAP_SETUID/CAP_SETGID, checked against the kernel
  # with a real unprivileged writer: a user namespace created by uid 65534 and its maps
  # written by uid 65534 through setpriv(1). check_rules/4 must predict each outcome.
  describe "unprivileged writers" do
    @describetag skip: if(System.find_executable("setpriv"), do: false, else: "no setpriv")

    @nobody %{euid: 65_534, egid: 65_534, cap_eff: 0}
    @as_nobody ~w(--reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --)

    defp nobody_userns! do
      unshare = System.find_executable("unshare")
      sleep = System.find_executable("sleep")

      port =
        Port.open(
          {:spawn_executable, System.find_executable("setpriv")},
          [:binary, :exit_status, args: @as_nobody ++ [unshare, "-U", sleep, "30"]]
        )

      {:os_pid, pid} = Port.info(port, :os_pid)
      mine = File.read_link!("/proc/self/ns/user")
      # setpriv execs unshare, which unshares, then execs sleep: same pid throughout.
      wait_until(fn ->
        match?({:ok, ns} when ns != mine, File.read_link("/proc/#{pid}/ns/user")) and
          File.read!("/proc/#{pid}/cmdline") =~ "sleep"
      end)

      on_exit(fn -> System.cmd("kill", ["-9", to_string(pid)]) end)
      pid
    end

    defp wait_until(fun, tries \\ 200) do
      cond do
        fun.() -> :ok
        tries == 0 -> flunk("condition never held")
        true -> Process.sleep(5) && wait_until(fun, tries - 1)
      end
    end

    defp write_as_nobody(file, text) do
      {_, status} =
        System.cmd(
          "setpriv",
          @as_nobody ++ ["/bin/sh", "-c", ~S(printf "$1" > "$2"), "sh", text, file],
          stderr_to_stdout: true
        )

      if status == 0, do: :ok, else: :refused
    end

    test "check_rules/4 predicts the kernel's answer for each case" do
      cases = [
        {:uid, [{0, 65_534, 1}], :allow},
        {:uid, [{0, 65_534, 2}], :allow},
        {:uid, [{0, 1000, 1}], :allow},
        {:uid, [{0, 65_534, 1}, {1, 100_000, 10}], :allow},
        {:gid, [{0, 65_534, 1}], :allow},
        {:gid, [{0, 65_534, 1}], :deny},
        {:gid, [{0, 0, 1}], :deny},
        {:gid, [{0, 65_534, 3}], :deny}
      ]

      for {kind, map, setgroups} <- cases do
        pid = nobody_userns!()

        if setgroups == :deny,
          do: assert(write_as_nobody("/proc/#{pid}/setgroups", "deny") == :ok)

        predicted =
          case User.check_rules(kind, map, @nobody, %{written?: false, setgroups: setgroups}) do
            :ok -> :ok
            {:error, _} -> :refused
          end

        {:ok, blob} = User.validate_map(map)
        actual = write_as_nobody("/proc/#{pid}/#{kind}_map", blob)
        assert actual == predicted, "#{kind} #{inspect(map)} setgroups=#{setgroups}"
      end
    end
  end
end
