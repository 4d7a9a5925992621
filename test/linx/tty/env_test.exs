defmodule Linx.Tty.EnvTest do
  # Where the caller's terminal is (the SSH guard of attach(:controlling)), the SIGWINCH
  # forwarder, and the doctests of the small structs.
  use ExUnit.Case, async: true

  alias Linx.Tty
  alias Linx.Tty.{Env, SigwinchHandler}

  doctest Linx.Tty.Error
  doctest Linx.Tty.WindowSize

  # A process that looks like an I/O server started under the given supervisors.
  defp fake_gl(ancestors) do
    me = self()

    pid =
      spawn(fn ->
        Process.put(:"$ancestors", ancestors)
        send(me, {:ready, self()})
        receive do: (:stop -> :ok)
      end)

    assert_receive {:ready, ^pid}
    pid
  end

  test "classify_caller_terminal/1 reads the group leader's ancestry" do
    ssh = fake_gl([self(), :ssh_sup])
    sshd = fake_gl([:sshd_sup, self()])
    local = fake_gl([:user_drv])
    assert Env.classify_caller_terminal(ssh) == :ssh
    assert Env.classify_caller_terminal(sshd) == :ssh
    assert Env.classify_caller_terminal(local) == :local_tty
    send(local, :stop)
    ref = Process.monitor(local)
    assert_receive {:DOWN, ^ref, _, _, _}
    assert Env.classify_caller_terminal(local) == :unknown
    # This test process's own group leader is not an SSH channel.
    assert Env.classify_caller_terminal() == :local_tty
  end

  test "attach(:controlling) refuses a caller whose terminal is an SSH channel" do
    {:ok, s} = Linx.Process.spawn(argv: ["/bin/sleep", "100"], stdio: :pty, auto_proceed: true)
    gl = fake_gl([:ssh_sup])
    me = self()

    spawn(fn ->
      Process.group_leader(self(), gl)
      send(me, {:result, Tty.attach(:controlling, s)})
    end)

    assert_receive {:result, {:error, :no_local_tty}}, 5_000
    assert Tty.format_error(:no_local_tty) =~ "group_leader"
    GenServer.stop(s)
  end

  test "the SIGWINCH handler forwards only :sigwinch, and several can coexist" do
    {:ok, mgr} = :gen_event.start_link()
    r1 = make_ref()
    r2 = make_ref()
    me = self()
    other = spawn(fn -> receive do: (m -> send(me, {:other_got, m})) end)
    :ok = :gen_event.add_handler(mgr, {SigwinchHandler, r1}, me)
    :ok = :gen_event.add_handler(mgr, {SigwinchHandler, r2}, other)
    :ok = :gen_event.sync_notify(mgr, :sigusr1)
    refute_received {:linx_tty, :sigwinch}
    :ok = :gen_event.sync_notify(mgr, :sigwinch)
    assert_received {:linx_tty, :sigwinch}
    assert_receive {:other_got, {:linx_tty, :sigwinch}}
    :ok = :gen_event.delete_handler(mgr, {SigwinchHandler, r1}, [])
    :ok = :gen_event.sync_notify(mgr, :sigwinch)
    refute_received {:linx_tty, :sigwinch}
    :gen_event.stop(mgr)
  end

  test "erlang_reads_stdin? sees this VM's own reader of fd 0" do
    # `mix test` runs -noshell: up to OTP 25 the :user server reads fd 0 through a
    # {fd, 0, 1} port, from OTP 26 on :user_drv does.
    assert Env.erlang_reads_stdin?()
  end
end
