defmodule Linx.Process.TestHelpers do
  @moduledoc """
  Shared helpers for the Linx.Process tests: /proc oracles for "is this workload
  gone", fake agents (shell scripts speaking a broken protocol), and event collectors.
  Loaded with `Code.require_file("helpers.exs", __DIR__)`.
  """

  import ExUnit.Assertions

  @doc "`{state, ppid, starttime}` from /proc/<pid>/stat, or nil when there is no such pid."
  def stat(pid) do
    case File.read("/proc/#{pid}/stat") do
      {:ok, text} ->
        # The command name is in parentheses and may contain spaces: split after it.
        [_, rest] = String.split(text, ") ", parts: 2)
        fields = String.split(rest, " ")
        {Enum.at(fields, 0), String.to_integer(Enum.at(fields, 1)), Enum.at(fields, 19)}

      {:error, _} ->
        nil
    end
  end

  @doc "The start time of a live pid (to tell it from a later process reusing the number)."
  def starttime!(pid) do
    {_state, _ppid, start} = stat(pid) || flunk("no process #{pid}")
    start
  end

  @doc "Whether the process `pid` that started at `start` still runs (zombies count as gone)."
  def alive?(pid, start) do
    case stat(pid) do
      {state, _, ^start} -> state not in ["Z", "X"]
      _ -> false
    end
  end

  @doc "Polls (10 ms steps) until the process is gone; fails after `timeout` ms."
  def await_gone(pid, start, timeout \\ 2_000) do
    deadline = System.monotonic_time(:millisecond) + timeout
    do_await_gone(pid, start, deadline)
  end

  defp do_await_gone(pid, start, deadline) do
    cond do
      not alive?(pid, start) ->
        :ok

      System.monotonic_time(:millisecond) > deadline ->
        flunk("process #{pid} still alive: #{inspect(stat(pid))}")

      true ->
        Process.sleep(10)
        do_await_gone(pid, start, deadline)
    end
  end

  @doc "The ready event's host pid."
  def await_ready(timeout \\ 5_000) do
    receive do
      {:linx_process, :ready, host_pid} -> host_pid
    after
      timeout -> flunk("no :ready within #{timeout} ms")
    end
  end

  @doc "Waits for :running."
  def await_running(timeout \\ 5_000) do
    receive do
      {:linx_process, :running} -> :ok
    after
      timeout -> flunk("no :running within #{timeout} ms")
    end
  end

  @doc """
  Collects output events until the terminal event: returns
  `%{stdout: bin, stderr: bin, pty_out: bin, terminal: event}`.
  """
  def collect(timeout \\ 5_000) do
    collect(%{stdout: "", stderr: "", pty_out: ""}, timeout)
  end

  defp collect(acc, timeout) do
    receive do
      {:linx_process, tag, bytes} when tag in [:stdout, :stderr, :pty_out] ->
        collect(Map.update!(acc, tag, &(&1 <> bytes)), timeout)

      {:linx_process, :running} ->
        collect(acc, timeout)

      {:linx_process, kind, _} = event when kind in [:exited, :signaled] ->
        Map.put(acc, :terminal, event)

      {:linx_process, :aborted} = event ->
        Map.put(acc, :terminal, event)

      {:linx_process, :error, _, _} = event ->
        Map.put(acc, :terminal, event)
    after
      timeout -> flunk("no terminal event within #{timeout} ms; so far #{inspect(acc)}")
    end
  end

  @doc "Runs argv to completion with stdout/stderr piped; returns `collect/1`'s map."
  def run!(argv, opts \\ []) do
    opts =
      Keyword.merge([argv: argv, stdio: [stdout: :pipe, stderr: :pipe], auto_proceed: true], opts)

    {:ok, s} = Linx.Process.spawn(opts)
    result = collect()
    GenServer.stop(s)
    result
  end

  @doc "Writes an executable shell script standing in for the agent; removed on exit."
  def fake_agent!(body) do
    dir = Path.join(System.tmp_dir!(), "linx-fake-agent-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    path = Path.join(dir, "agent")
    File.write!(path, "#!/bin/sh\n" <> body <> "\n")
    File.chmod!(path, 0o755)
    ExUnit.Callbacks.on_exit(fn -> File.rm_rf!(dir) end)
    path
  end

  @doc "A `{:packet, 4}` frame as a printf(1) argument (octal escapes)."
  def printf_frame(payload) do
    (<<byte_size(payload)::32>> <> payload)
    |> :binary.bin_to_list()
    |> Enum.map_join(&("\\" <> String.pad_leading(Integer.to_string(&1, 8), 3, "0")))
  end

  @doc "The agent executable the tests use."
  def agent_path, do: Linx.Process.Agent.default_path()

  @doc "Every process whose parent chain leads to `ancestor` (not including it)."
  def descendants(ancestor) do
    parents =
      for dir <- File.ls!("/proc"),
          Regex.match?(~r/^\d+$/, dir),
          {_state, ppid, _} <- [stat(dir)],
          do: {String.to_integer(dir), ppid}

    children = Enum.group_by(parents, &elem(&1, 1), &elem(&1, 0))
    walk(Map.get(children, ancestor, []), children, [])
  end

  defp walk([], _children, acc), do: acc

  defp walk([pid | rest], children, acc),
    do: walk(Map.get(children, pid, []) ++ rest, children, [pid | acc])
end
