Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Process.LoadTest do
  # 500 sessions alive at the same time, each owned by its own Elixir process, all
  # reaching their terminal event.
  use ExUnit.Case, async: false

  import Linx.Process.TestHelpers

  alias Linx.Process, as: LP

  @sessions 500
  @moduletag timeout: 120_000

  test "#{@sessions} concurrent sessions from #{@sessions} processes all end with their own output" do
    test = self()

    tasks =
      for i <- 1..@sessions do
        Task.async(fn ->
          {:ok, s} =
            LP.spawn(argv: ["/bin/cat"], stdio: [stdin: :pipe, stdout: :pipe], auto_proceed: true)

          _ = await_ready(30_000)
          await_running(30_000)
          send(test, {:running, self()})

          receive do
            :go -> :ok
          end

          :ok = LP.stdin_write(s, "session #{i}\n")
          :ok = LP.stdin_close(s)
          out = collect(30_000)
          {i, out.stdout, out.terminal}
        end)
      end

    # Every workload is running at once before any of them is let go.
    running = for _ <- 1..@sessions, do: assert_receive({:running, pid}, 60_000) && pid
    assert length(Enum.uniq(running)) == @sessions
    for t <- tasks, do: send(t.pid, :go)

    results = Task.await_many(tasks, 60_000)

    for {i, stdout, terminal} <- results do
      assert stdout == "session #{i}\n"
      assert terminal == {:linx_process, :exited, 0}
    end
  end
end
