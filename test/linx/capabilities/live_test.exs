Code.require_file("../process/helpers.exs", __DIR__)

defmodule Linx.Capabilities.LiveTest do
  # The checkpoint write verbs against the kernel: the parked child's sets as
  # /proc/<host_pid>/status shows them, and what the exec'd workload reports about
  # itself, following capabilities(7)'s execve rules.
  use ExUnit.Case, async: true

  import Linx.Process.TestHelpers

  alias Linx.Capabilities, as: Caps
  alias Linx.Capabilities.{Constants, State}
  alias Linx.Process, as: LP

  @moduletag :root

  @report ["/bin/sh", "-c", "id -u; grep ^Cap /proc/self/status"]

  defp parked(argv, opts \\ []) do
    {:ok, s} = LP.spawn([argv: argv, stdio: [stdout: :pipe, stderr: :pipe]] ++ opts)
    {s, await_ready()}
  end

  # The commands are applied asynchronously by the child: poll its status until `fun`
  # holds for its capability state.
  defp await_state(host_pid, fun, tries \\ 200) do
    {:ok, state} = Caps.read(host_pid)

    cond do
      fun.(state) -> state
      tries == 0 -> flunk("the child's capabilities never matched: #{inspect(state)}")
      true -> Process.sleep(5) && await_state(host_pid, fun, tries - 1)
    end
  end

  # The workload's report: {uid, %State{}}.
  defp report!(s) do
    :ok = LP.proceed(s)
    out = collect()
    assert out.terminal == {:linx_process, :exited, 0}, inspect(out)
    [uid | status] = String.split(out.stdout, "\n", trim: true)
    {:ok, state} = Caps.parse_status(Enum.join(status, "\n"), "workload")
    {String.to_integer(uid), state}
  end

  test "drop_bounding: the parked child loses them at once, the workload never has them" do
    {:ok, beam} = Caps.read(:self)
    drop = MapSet.new([:cap_sys_admin, :cap_net_raw, :cap_sys_module])
    {s, hp} = parked(@report)
    assert :ok = Caps.drop_bounding(s, drop)

    parked_state = await_state(hp, &MapSet.disjoint?(&1.bounding, drop))
    assert parked_state.bounding == MapSet.difference(beam.bounding, drop)

    {uid, state} = report!(s)
    assert uid == 0
    assert state.bounding == MapSet.difference(beam.bounding, drop)
    # Root's permitted and effective sets after execve are the bounding set.
    assert state.permitted == state.bounding
    assert state.effective == state.bounding
    assert state.ambient == MapSet.new()
  end

  test "thread sets and ambient: a non-root workload keeps exactly its ambient set" do
    # A user namespace where the workload's (host root) uid is unmapped: it runs as the
    # overflow uid, an ordinary user, so execve leaves it the ambient set only.
    {s, hp} = parked(@report, namespaces: [:user])
    :ok = Linx.User.setup_maps(hp, uid: [{0, 100_000, 65_536}], gid: [{0, 100_000, 65_536}])

    all = Constants.all()
    keep = MapSet.new([:cap_net_bind_service, :cap_net_raw])
    assert :ok = Caps.set_thread_sets(s, effective: all, permitted: all, inheritable: keep)
    assert :ok = Caps.set_ambient(s, keep)
    assert :ok = Caps.drop_bounding(s, [:cap_sys_admin])

    parked_state =
      await_state(hp, &(&1.ambient == keep and not MapSet.member?(&1.bounding, :cap_sys_admin)))

    assert parked_state.inheritable == keep
    # The new user namespace gave the child every capability (in it).
    {:ok, last} = Caps.kernel_last_cap()
    assert MapSet.size(parked_state.permitted) == last + 1

    {uid, state} = report!(s)
    assert uid == 65_534

    assert state == %State{
             effective: keep,
             permitted: keep,
             inheritable: keep,
             ambient: keep,
             bounding: MapSet.delete(parked_state.permitted, :cap_sys_admin)
           }
  end

  test "a kernel refusal ends the session at the checkpoint, naming the stage" do
    # Effective must be within permitted.
    {s, _} = parked(["/bin/true"])

    assert :ok =
             Caps.set_thread_sets(s, effective: [:cap_chown], permitted: [], inheritable: [])

    assert_receive {:linx_process, :error, 1, :cap_set_thread}, 5_000
    assert {:error, %LP.Error{stage: :cap_set_thread, errno: :eperm}} = LP.wait(s)
    assert Caps.drop_bounding(s, [:cap_chown]) == {:error, :no_process}

    # An ambient capability must be inheritable first.
    {s, _} = parked(["/bin/true"])
    assert :ok = Caps.set_ambient(s, [:cap_net_bind_service])
    assert_receive {:linx_process, :error, 1, :cap_set_ambient}, 5_000
    refute_received {:linx_process, :running}

    # Without CAP_SETPCAP in the effective set, bounding drops are refused: commands
    # apply in the order they are sent.
    {s, _} = parked(["/bin/true"])
    {:ok, beam} = Caps.read(:self)
    e = MapSet.delete(beam.permitted, :cap_setpcap)
    assert :ok = Caps.set_thread_sets(s, effective: e, permitted: beam.permitted, inheritable: [])
    assert :ok = Caps.drop_bounding(s, [:cap_net_raw])
    assert_receive {:linx_process, :error, 1, :cap_drop_bounding}, 5_000
  end
end
