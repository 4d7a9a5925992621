defmodule Linx.Tty.Pty do
  @moduledoc """
  A pseudo-terminal pair from `Linx.Tty.open_pty/0`: the master (what a terminal
  emulator holds: it reads what programs print and writes what the user types) and the
  slave (what programs see as their terminal, at `path`).

      {:ok, pty} = Linx.Tty.open_pty()
      pty
      #=> #Linx.Tty.Pty</dev/pts/4 master=21 slave=22>
      :ok = Linx.Tty.close_pty(pty)

  `:master` and `:slave` are descriptor numbers to pass to the other `Linx.Tty`
  functions (the master is non-blocking, the slave blocking, both close-on-exec). They
  are owned by resources kept in the struct: both are closed by `Linx.Tty.close_pty/1`,
  or when the struct is garbage collected.
  """

  @enforce_keys [:master, :slave, :path, :handles]
  defstruct @enforce_keys

  @type t :: %__MODULE__{
          master: non_neg_integer(),
          slave: non_neg_integer(),
          path: String.t(),
          handles: {reference(), reference()}
        }

  defimpl Inspect do
    def inspect(%{path: path, master: m, slave: s}, _opts),
      do: "#Linx.Tty.Pty<#{path} master=#{m} slave=#{s}>"
  end
end
