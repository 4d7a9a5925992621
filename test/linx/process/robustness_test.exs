Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Process.RobustnessTest do
  # A broken agent or a broken protocol never crashes a caller: the owner gets an error
  # event naming what broke. The agent binary itself refuses bad input the same way.
  use ExUnit.Case, async: true

  import Linx.Process.TestHelpers

  alias Linx.Process, as: LP

  doctest Linx.Process.Error

  test "errors render their stage, errno and code" do
    assert Exception.message(LP.Error.from_agent(1, :cap_set_thread)) ==
             "process cap_set_thread failed: eperm (errno 1)"

    assert Exception.message(LP.Error.from_agent(4095, :execve)) ==
             "process execve failed: errno 4095"

    assert %LP.Error{errno: :unknown, code: 9} = LP.Error.from_agent(9, :agent_died)
  end

  test "every stage the agent can report is known to the BEAM side (safe decoding)" do
    {out, 0} = System.cmd(agent_path(), ["--list-stages"])
    stages = String.split(out, "\n", trim: true)
    assert length(stages) > 40
    assert stages -- Enum.map(LP.__error_stages__(), &Atom.to_string/1) == []
    for s <- stages, do: assert(is_atom(String.to_existing_atom(s)))

    {usage, 64} = System.cmd(agent_path(), ["--bogus"], stderr_to_stdout: true)
    assert usage =~ "usage: linx_agent"
  end

  describe "the agent binary, driven directly" do
    defp agent_port do
      Port.open({:spawn_executable, agent_path()}, [
        :binary,
        :nouse_stdio,
        {:packet, 4},
        :exit_status
      ])
    end

    defp reply(port) do
      receive do
        {^port, {:data, frame}} -> :erlang.binary_to_term(frame, [:safe])
      after
        5_000 -> flunk("no frame from the agent")
      end
    end

    # After its last event the agent waits for the port to close, then exits.
    defp close_and_await_exit(port) do
      os_pid = Linx.Process.Agent.os_pid(port)
      start = starttime!(os_pid)
      Port.close(port)
      await_gone(os_pid, start)
    end

    test "malformed requests are refused with :malformed_request" do
      for request <- [
            "not etf",
            :erlang.term_to_binary({:spawn, %{}}),
            :erlang.term_to_binary({:spawn, %{argv: []}}),
            :erlang.term_to_binary({:spawn, %{argv: ["/bin/true"], stdio: :tty}}),
            :erlang.term_to_binary({:enter, %{argv: ["/bin/true"]}}),
            :erlang.term_to_binary({:spawn, %{argv: ["/bin/tr\0ue"]}}),
            :erlang.term_to_binary({:spawn, %{argv: ["/bin/true"], namespaces: [:nope]}}),
            :erlang.term_to_binary(1.5)
          ] do
        port = agent_port()
        Port.command(port, request)
        assert reply(port) == {:error, 22, :malformed_request}, inspect(request)
        close_and_await_exit(port)
      end
    end

    test "a request over the limit is :request_too_big (EMSGSIZE)" do
      port = agent_port()
      # Bigger than the agent's 4 MiB request limit.
      Port.command(
        port,
        :erlang.term_to_binary(
          {:spawn, %{argv: ["/bin/true", :binary.copy("x", 5 * 1024 * 1024)]}}
        )
      )

      assert reply(port) == {:error, 90, :request_too_big}
      close_and_await_exit(port)
    end

    test "a command in the wrong stage is :malformed_command, and the child is killed" do
      port = agent_port()
      Port.command(port, :erlang.term_to_binary({:spawn, %{argv: ["/bin/sleep", "60"]}}))
      assert {:status, :spawned, host_pid} = reply(port)
      assert {:status, :ready, ^host_pid} = reply(port)
      start = starttime!(host_pid)
      # Signals are only for a running workload (the session buffers them until then).
      Port.command(port, :erlang.term_to_binary({:signal, 15}))
      assert reply(port) == {:error, 22, :malformed_command}
      refute alive?(host_pid, start)
      close_and_await_exit(port)
    end

    test "closing the port before any request makes the agent exit without a word" do
      port = agent_port()
      close_and_await_exit(port)
      refute_received {^port, _}
    end
  end

  describe "a misbehaving agent" do
    test "garbage instead of ETF: :agent_protocol (EPROTO), the agent is closed" do
      agent = fake_agent!("printf '#{printf_frame("garbage")}' >&4; exec cat <&3 >/dev/null")
      {:ok, s} = LP.spawn(argv: ["/bin/true"], agent: agent)
      assert_receive {:linx_process, :error, 71, :agent_protocol}, 5_000
      assert {:error, %LP.Error{stage: :agent_protocol, errno: :eproto}} = LP.wait(s)
    end

    test "an atom the VM has never seen (unsafe to decode) is a protocol error too" do
      name = "linx_never_seen_#{System.unique_integer([:positive])}"
      assert_raise ArgumentError, fn -> String.to_existing_atom(name) end
      frame = <<131, 104, 3, 119, 5, "error", 97, 2, 119, byte_size(name)>> <> name
      agent = fake_agent!("printf '#{printf_frame(frame)}' >&4; exec cat <&3 >/dev/null")
      {:ok, _} = LP.spawn(argv: ["/bin/true"], agent: agent)
      assert_receive {:linx_process, :error, 71, :agent_protocol}, 5_000
    end

    test "frames out of order (:running before :ready) are a protocol error" do
      frame = :erlang.term_to_binary({:status, :running})
      agent = fake_agent!("printf '#{printf_frame(frame)}' >&4; exec cat <&3 >/dev/null")
      {:ok, _} = LP.spawn(argv: ["/bin/true"], agent: agent)
      assert_receive {:linx_process, :error, 71, :agent_protocol}, 5_000
    end

    test "dying in the middle of a frame: :agent_died with the exit status" do
      # It reads the request's length prefix first: an agent gone before the request is
      # written is a broken pipe (:agent_channel), a different case from this one.
      agent = fake_agent!("head -c 4 <&3 >/dev/null; printf '\\000\\000\\000\\020ab' >&4; exit 3")
      {:ok, s} = LP.spawn(argv: ["/bin/true"], agent: agent)
      assert_receive {:linx_process, :error, 3, :agent_died}, 5_000
      assert {:error, %LP.Error{stage: :agent_died, code: 3}} = LP.wait(s)
    end

    test "an agent that cannot even be executed: :agent_died" do
      agent = fake_agent!("")
      File.write!(agent, <<0x7F, "ELF", 0::size(400)>>)
      {:ok, _} = LP.spawn(argv: ["/bin/true"], agent: agent)
      # Its exit status, or, if the request is written after it is gone, the broken pipe
      # (EPIPE): which one the runtime reports first is a race.
      assert_receive {:linx_process, :error, status, stage}, 5_000
      assert {stage, status != 0} in [{:agent_died, true}, {:agent_channel, true}]
      if stage == :agent_channel, do: assert(status == 32)
    end

    test "a second terminal frame is dropped: exactly one terminal event" do
      frames =
        for t <- [{:status, :spawned, 12_345}, {:error, 2, :execve}, {:status, :exited, 0}],
            into: "",
            do: printf_frame(:erlang.term_to_binary(t))

      agent = fake_agent!("printf '#{frames}' >&4; exec cat <&3 >/dev/null")
      {:ok, s} = LP.spawn(argv: ["/bin/true"], agent: agent)
      assert_receive {:linx_process, :error, 2, :execve}, 5_000
      refute_receive {:linx_process, :exited, _}, 200
      assert {:error, %LP.Error{stage: :execve}} = LP.wait(s)
    end
  end

  test "a command over the agent's limit is :command_too_big; the parked child is gone" do
    {:ok, s} = LP.spawn(argv: ["/bin/true"])
    host_pid = await_ready()
    start = starttime!(host_pid)
    assert :ok = GenServer.call(s, {:seccomp_install, :binary.copy(<<0>>, 2 * 1024 * 1024)})
    assert_receive {:linx_process, :error, 90, :command_too_big}, 5_000
    refute alive?(host_pid, start)
  end
end
